"""The cache the application uses: JSON values, one computation per miss, invalidation by
key or tag. On Redis every process shares entries, locks and invalidations; in memory they
belong to this process alone."""

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar, cast
from uuid import uuid4

from cashews import Cache as CashewsCache

from storefront.core.cache.backend_health import (
    BackendHealth,
    BackendUnavailable,
    backend_errors,
)
from storefront.core.cache.entries import (
    KeySpace,
    Lookup,
    Snapshot,
    make_entry,
    normalize_tags,
    read_entry,
)
from storefront.core.cache.json_values import ensure_json
from storefront.core.cache.single_flight import SingleFlight

T = TypeVar("T")

LOCK_POLL_SECONDS = 0.02
# Tokens outlive the entries that use them by at least this, so a busy tag is not reset
# (which only costs one recomputation per key) more than once an hour.
TOKEN_MIN_TTL_SECONDS = 3600.0


async def _compute_json(compute: Callable[[], Awaitable[T]]) -> T:
    value = await compute()
    ensure_json(value)
    return value


class AppCache:
    def __init__(
        self,
        backend: CashewsCache,
        *,
        namespace: str,
        shared: bool,
        default_ttl_seconds: float,
        lock_ttl_seconds: float,
        lock_wait_seconds: float,
        health: BackendHealth,
    ) -> None:
        self._backend = backend
        self._keys = KeySpace(namespace)
        self._shared = shared
        self._default_ttl = default_ttl_seconds
        self._lock_ttl = lock_ttl_seconds
        self._lock_wait = lock_wait_seconds
        self._health = health
        self._flights = SingleFlight()

    @property
    def shared(self) -> bool:
        """True when entries and invalidations are seen by every process (Redis)."""
        return self._shared

    @property
    def keys(self) -> KeySpace:
        return self._keys

    async def get_or_compute(
        self,
        key: str,
        compute: Callable[[], Awaitable[T]],
        *,
        ttl: float | None = None,
        tags: Collection[str] = (),
    ) -> T:
        """The cached value of `key`, else `compute()`'s, stored for `ttl` seconds.

        However many callers miss at once, in this process or (on Redis) any other, one
        `compute` runs while the others wait for its value. When the backend is unreachable
        the value is computed without the cache. A value that is not plain JSON raises
        `CacheValueError` and is not stored.
        """
        lookup = self._keys.lookup(key, tags)
        expire = self._default_ttl if ttl is None else ttl
        if expire <= 0:
            raise ValueError(f"a cache ttl is positive, not {ttl!r}")
        return await self._flights.run(key, lambda: self._load(lookup, compute, expire))

    async def invalidate(self, *keys: str) -> None:
        """Forget these keys. A value being computed meanwhile (from data read before this
        call) is not served once stored."""
        lookups = [self._keys.lookup(key) for key in keys]
        await self._delete([name for one in lookups for name in (one.entry_key, *one.token_keys)])

    async def invalidate_tags(self, *tags: str) -> None:
        """Forget every entry stored with any of these tags, as `invalidate` does."""
        await self._delete([self._keys.tag_token(tag) for tag in normalize_tags(tags)])

    async def aclose(self) -> None:
        with warnings.catch_warnings():
            # cashews 7.6 closes its redis-py client with the deprecated close().
            warnings.filterwarnings(
                "ignore", message="Call to deprecated close", category=DeprecationWarning
            )
            await self._backend.close()

    async def _load(self, lookup: Lookup, compute: Callable[[], Awaitable[T]], ttl: float) -> T:
        if self._health.available():
            try:
                return await self._load_through_backend(lookup, compute, ttl)
            except BackendUnavailable as error:
                # Raised only before `compute` ran, so it runs once either way.
                self._health.record_failure(error)
        return await _compute_json(compute)

    async def _load_through_backend(
        self, lookup: Lookup, compute: Callable[[], Awaitable[T]], ttl: float
    ) -> T:
        snapshot = await self._read(lookup)
        if snapshot.hit:
            return cast(T, snapshot.value)
        owner = uuid4().hex
        give_up_at = time.monotonic() + self._lock_wait
        while not await self._try_lock(lookup, owner):
            if time.monotonic() >= give_up_at:
                # The holder is slow or gone (its lock expires on its own): serve this
                # request instead of waiting without bound.
                return await self._compute_and_store(lookup, compute, ttl, snapshot.tokens)
            await asyncio.sleep(LOCK_POLL_SECONDS)
            snapshot = await self._read(lookup)
            if snapshot.hit:
                return cast(T, snapshot.value)
        try:
            # The previous holder may have stored the value just before we locked.
            snapshot = await self._read(lookup)
            if snapshot.hit:
                return cast(T, snapshot.value)
            return await self._compute_and_store(lookup, compute, ttl, snapshot.tokens)
        finally:
            await self._unlock(lookup, owner)

    async def _compute_and_store(
        self,
        lookup: Lookup,
        compute: Callable[[], Awaitable[T]],
        ttl: float,
        tokens: Sequence[str | None],
    ) -> T:
        # Tokens are taken before computing: an invalidation during the computation
        # deletes them, and the entry written below is then never served.
        current = await self._ensure_tokens(lookup, tokens, ttl)
        value = await _compute_json(compute)
        entry = make_entry(value, lookup, current)
        try:
            with backend_errors():
                await self._backend.set(lookup.entry_key, entry, expire=ttl)
        except BackendUnavailable as error:
            self._health.record_failure(error)
        return value

    async def _read(self, lookup: Lookup) -> Snapshot:
        with backend_errors():
            raw, *tokens = await self._backend.get_many(lookup.entry_key, *lookup.token_keys)
        self._health.record_success()
        return read_entry(raw, lookup, [t if isinstance(t, str) else None for t in tokens])

    async def _ensure_tokens(
        self, lookup: Lookup, tokens: Sequence[str | None], ttl: float
    ) -> list[str]:
        expire = max(ttl, TOKEN_MIN_TTL_SECONDS)
        current: list[str] = []
        with backend_errors():
            for name, token in zip(lookup.token_keys, tokens, strict=True):
                if token is None:
                    fresh = uuid4().hex
                    if not await self._backend.set(name, fresh, expire=expire, exist=False):
                        # Another process created it first; if it is already gone again,
                        # `fresh` matches nothing and this entry is simply never served.
                        found = await self._backend.get(name)
                        fresh = found if isinstance(found, str) else fresh
                    token = fresh
                current.append(token)
        return current

    async def _try_lock(self, lookup: Lookup, owner: str) -> bool:
        with backend_errors():
            return await self._backend.set_lock(lookup.lock_key, owner, expire=self._lock_ttl)

    async def _unlock(self, lookup: Lookup, owner: str) -> None:
        try:
            with backend_errors():
                await self._backend.unlock(lookup.lock_key, owner)
        except BackendUnavailable as error:
            self._health.record_failure(error)  # the lock expires on its own

    async def _delete(self, names: list[str]) -> None:
        if not names:
            return
        # Tried even while reads skip the backend: a lost invalidation means stale values.
        try:
            with backend_errors():
                await self._backend.delete_many(*names)
        except BackendUnavailable as error:
            self._health.record_failure(error)
