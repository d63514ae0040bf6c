"""Values kept in this process's memory, forgotten when any process invalidates them.

An invalidation is applied here at once and published through the hub to every other
process. An entry is served only while the hub confirms that everything published up to
`TRUST_SECONDS` ago has arrived (see `Hub.delivery_epoch`), and only in the delivery epoch
it was read in: a lost connection makes every older entry untrustworthy. So a change made
anywhere reaches every process's answers within `TRUST_SECONDS`, whatever Redis does.

A value read from the database races with invalidations of it: `generation()` before the
read and `put(..., generation=)` after it drops a value that an invalidation overtook.
"""

import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

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
