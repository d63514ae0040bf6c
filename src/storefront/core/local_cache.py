"""Values kept in this process's memory, forgotten when any process invalidates them.

An invalidation is applied here at once and published through the hub to every other
process. An entry is served only while the hub confirms that everything published up to
`TRUST_SECONDS` ago has arrived (see `Hub.delivery_epoch`), and only in the delivery epoch
it was read in: a lost connection makes every older entry untrustworthy. So a change made
anywhere reaches every process's answers within `TRUST_SECONDS`, whatever Redis does.

A value read from the database races with invalidations of it: `generation()` before the
read and `put(..., generation=)` after it drops a value that an invalidation overtook.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

TRUST_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Stamp:
    """When a value was read: the cache's generation and the hub's delivery epoch."""

    generation: int
    epoch: int | None


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    epoch: int
    expires_at: float
    tags: tuple[Hashable, ...]


class LocalCache(Generic[K, V]):
    def __init__(
        self,
        *,
        ttl_seconds: float,
        max_entries: int,
        epoch: Callable[[float], int | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._epoch = epoch
        self._clock = clock
        self._entries: dict[K, _Entry[V]] = {}
        self._tagged: dict[Hashable, set[K]] = {}
        self._generation = 0
        self._loading = SingleFlight[K]()

    def __len__(self) -> int:
        return len(self._entries)

    def stamp(self) -> Stamp:
        """Take before reading the value that `put` will keep."""
        return Stamp(self._generation, self._epoch(TRUST_SECONDS))

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.epoch != self._epoch(TRUST_SECONDS) or entry.expires_at <= self._clock():
            self._drop(key)
            return None
        return entry.value

    def put(self, key: K, value: V, *, stamp: Stamp, tags: Iterable[Hashable] = ()) -> None:
        """Keep `value` unless it was invalidated (or delivery broke) since `stamp`."""
        if stamp.generation != self._generation or stamp.epoch is None:
            return
        if stamp.epoch != self._epoch(TRUST_SECONDS):
            return
        self._drop(key)
        while len(self._entries) >= self._max_entries:
            self._drop(next(iter(self._entries)))  # the oldest first
        entry = _Entry(value, stamp.epoch, self._clock() + self._ttl, tuple(tags))
        self._entries[key] = entry
        for tag in entry.tags:
            self._tagged.setdefault(tag, set()).add(key)

    async def get_or_load(
        self, key: K, load: Callable[[], Awaitable[V]], *, tags: Iterable[Hashable] = ()
    ) -> V:
        """The value of `key`, else `load()`'s, kept; however many callers miss at once,
        one `load` runs and they all get its value."""
        value = self.get(key)
        if value is not None:
            return value

        async def load_and_keep() -> V:
            stamp = self.stamp()
            loaded = await load()
            self.put(key, loaded, stamp=stamp, tags=tags)
            return loaded

        return await self._loading.run(key, load_and_keep)

    def invalidate(self, tags: Iterable[Hashable] = (), *, everything: bool = False) -> None:
        self._generation += 1
        if everything:
            self._entries.clear()
            self._tagged.clear()
            return
        for tag in tags:
            for key in self._tagged.pop(tag, set()):
                self._drop(key)

    def _drop(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for tag in entry.tags:
            keys = self._tagged.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tagged[tag]


def _cancelling_current_task() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class SingleFlight(Generic[K]):
    """Concurrent calls for one key share a single run of the work."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[Any]] = {}

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        while (running := self._running.get(key)) is not None:
            try:
                # shield: a waiter that is cancelled must not cancel the shared run.
                return cast(V, await asyncio.shield(running))
            except asyncio.CancelledError:
                if not running.cancelled() or _cancelling_current_task():
                    raise
                # The caller doing the work was cancelled, not this one: take over.
        return await self._lead(key, work)

    async def _lead(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        shared: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[key] = shared
        try:
            result = await work()
        except Exception as error:
            shared.set_exception(error)
            # Marks the exception as retrieved: nobody may have been waiting for it.
            shared.exception()
            raise
        except BaseException:
            shared.cancel()
            raise
        else:
            shared.set_result(result)
            return result
        finally:
            del self._running[key]
