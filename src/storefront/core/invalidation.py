"""The process's local caches by name, and their invalidations carried to every process.

    identities = invalidations.cache("auth.identities", ttl_seconds=60, max_entries=10_000)
    ...  # in a unit of work that ends a user's sessions:
    invalidate_after_commit(session, "auth.identities", f"user:{user.id}")

The invalidation is applied in this process once the commit succeeded, before the
response is sent, and published through the hub; see core/local_cache.py for the bound
on every other process. An urgent one (credentials ending) is published before the
response too; the others are gathered for up to `GATHER_SECONDS` and sent as one message,
so that a burst of orders costs Redis one publish, not one each.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable, Collection, Hashable, Iterable
from functools import partial
from typing import Any

from storefront.core.effects import Work, after_commit
from storefront.core.local_cache import LocalCache
from storefront.core.pubsub.hub import Hub, HubUnavailable
from storefront.core.pubsub.subscription import JSON, Message

CHANNEL = "storefront.invalidations"
SESSION_INFO_KEY = "storefront.invalidations"
GATHER_SECONDS = 0.02

logger = logging.getLogger("storefront.cache")

# Called with a cache's name and the tags invalidated in it.
Listener = Callable[[str, Collection[Hashable]], None]


class Invalidations:
    def __init__(self) -> None:
        self._caches: dict[str, LocalCache[Any, Any]] = {}
        self._hub: Hub | None = None
        self._pending: dict[str, set[str]] = {}
        self._gathering: asyncio.Task[None] | None = None
        self._origin = uuid.uuid4().hex
        self._listeners: list[Listener] = []

    def cache(self, name: str, *, ttl_seconds: float, max_entries: int) -> LocalCache[Any, Any]:
        """The local cache called `name`, made at the first call. Until `attach`, it keeps
        nothing: without the hub, nobody could tell it about changes."""
        found = self._caches.get(name)
        if found is None:
            found = LocalCache(ttl_seconds=ttl_seconds, max_entries=max_entries, epoch=self._epoch)
            self._caches[name] = found
        return found

    async def attach(self, hub: Hub) -> None:
        """Listen to every process's invalidations (the app's lifespan, a job worker)."""
        self._hub = hub
        try:
            await hub.listen(CHANNEL, self._receive)
        except HubUnavailable:
            # The hub subscribes once Redis answers; until then nothing is served from here.
            logger.warning("invalidations not subscribed yet: Redis unavailable")

    async def detach(self) -> None:
        if self._gathering is not None:
            self._gathering.cancel()
        await self._publish_pending()
        self._hub = None
        for cache in self._caches.values():
            cache.invalidate(everything=True)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every invalidation applied here, this process's own and
        every other's, as it is applied: synchronously, so for quick work only (never
        I/O). Returns the function that stops the calls."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _epoch(self, within_seconds: float) -> int | None:
        hub = self._hub
        return None if hub is None else hub.delivery_epoch(within_seconds)

    async def invalidate(self, name: str, tags: Iterable[str], *, urgent: bool = True) -> None:
        tags = set(tags)
        self._apply(name, tags)
        if self._hub is None:
            return
        self._pending.setdefault(name, set()).update(tags)
        if urgent:
            await self._publish_pending()
        elif self._gathering is None:
            self._gathering = asyncio.create_task(self._publish_soon())

    async def _publish_soon(self) -> None:
        await asyncio.sleep(GATHER_SECONDS)
        self._gathering = None
        await self._publish_pending()

    async def _publish_pending(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending or self._hub is None:
            return
        forget: dict[str, JSON] = {name: list[JSON](sorted(tags)) for name, tags in pending.items()}
        message: dict[str, JSON] = {"origin": self._origin, "forget": forget}
        try:
            await self._hub.publish(CHANNEL, message)
        except HubUnavailable:
            # Other processes cannot hear from Redis either, so their caches stop serving
            # within local_cache.TRUST_SECONDS; unless only this process's link is down.
            logger.warning("invalidations not published: Redis unavailable")

    def _apply(self, name: str, tags: Iterable[Hashable]) -> None:
        applied = frozenset(tags)
        cache = self._caches.get(name)
        if cache is not None:
            cache.invalidate(applied)
        for listener in tuple(self._listeners):
            try:
                listener(name, applied)
            except Exception:
                # The invalidation stands; a listener's failure must not undo the request.
                logger.exception("an invalidation listener failed", extra={"cache": name})

    def _receive(self, message: Message) -> None:
        forget = message.data.get("forget")
        if message.data.get("origin") == self._origin or not isinstance(forget, dict):
            return  # applied when it was made (its echo would only drop newer values)
        for name, tags in forget.items():
            if isinstance(tags, list):
                self._apply(name, [tag for tag in tags if isinstance(tag, str)])


def invalidate_after_commit(work: Work, cache: str, *tags: str, urgent: bool = True) -> None:
    invalidations: Invalidations = work.info[SESSION_INFO_KEY]
    after_commit(work, partial(invalidations.invalidate, cache, tags, urgent=urgent))
