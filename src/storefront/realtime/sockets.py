"""The live sockets of this process, by user: at most `MAX_SOCKETS_PER_USER` each, and
told when their user's credentials may have changed.

They hear it from the invalidations this process applies to `auth.identities` (tag
`user:<id>`: every change that ends or alters a user's credentials, made here or in any
other process). Another process's invalidation is lost while Redis is unreachable, so
whenever the hub cannot confirm that everything published up to `DELIVERY_TRUST_SECONDS`
ago has arrived, and when its delivery epoch changes (a reconnection), every socket is
told at each tick. A change is then noticed at most DELIVERY_TRUST_SECONDS + TICK_SECONDS
after it was made, plus one read: within the 1 s that SPEC §4 allows.

The cap is per process: it bounds what one user can hold of each process's sockets,
tasks and memory (so MAX_SOCKETS_PER_USER times the API processes in all), with no shared
state that a crashed process would leave behind and no Redis round trip per socket.
"""

import asyncio
import weakref
from collections.abc import Collection, Hashable
from dataclasses import dataclass

from storefront.auth.identities import CACHE as IDENTITIES
from storefront.auth.identities import user_tag
from storefront.core.invalidation import Invalidations
from storefront.core.local_cache import SingleFlight
from storefront.core.pubsub import Hub

MAX_SOCKETS_PER_USER = 16
TICK_SECONDS = 0.25  # the hub's heartbeat
DELIVERY_TRUST_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Stamp:
    """Taken before authenticating a socket: what it may have missed until admitted."""

    generation: int
    epoch: int | None


class Member:
    """One admitted socket: `recheck` is set when its credentials may have changed."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.tag = user_tag(user_id)
        self.recheck = asyncio.Event()


class LiveSockets:
    def __init__(self) -> None:
        self._members: dict[Hashable, set[Member]] = {}
        # Counts every wake-up (and every change of any user's credentials): re-checks
        # share a read only if no wake-up came between them, see `flight_key`.
        self._generation = 0
        self._epoch: int | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.rechecks = SingleFlight[tuple[str, int]]()

    @classmethod
    def of(cls, invalidations: Invalidations) -> "LiveSockets":
        """This process's registry: one per `Invalidations` (the app's database)."""
        found = _REGISTRIES.get(invalidations)
        if found is None:
            found = _REGISTRIES[invalidations] = cls()
            invalidations.listen(found._invalidated)
        return found

    def stamp(self, hub: Hub) -> Stamp:
        return Stamp(self._generation, hub.delivery_epoch(DELIVERY_TRUST_SECONDS))

    def admit(self, user_id: int, *, stamp: Stamp, hub: Hub) -> Member | None:
        """A place for one more socket of the user, or None when they hold the maximum."""
        member = Member(user_id)
        members = self._members.setdefault(member.tag, set())
        if len(members) >= MAX_SOCKETS_PER_USER:
            return None
        members.add(member)
        epoch = hub.delivery_epoch(DELIVERY_TRUST_SECONDS)
        if stamp.generation != self._generation or stamp.epoch is None or stamp.epoch != epoch:
            member.recheck.set()
        if self._ticker is None:
            self._epoch = epoch
            self._ticker = asyncio.create_task(self._tick(hub), name="live-sockets-ticker")
        return member

    def leave(self, member: Member) -> None:
        members = self._members.get(member.tag)
        if members is not None:
            members.discard(member)
            if not members:
                del self._members[member.tag]

    def flight_key(self, token: str) -> tuple[str, int]:
        """Re-checks of one token share a read only within one generation: a read that
        began before a wake-up may predate the change that caused it."""
        return token, self._generation

    def _invalidated(self, cache: str, tags: Collection[Hashable]) -> None:
        if cache != IDENTITIES:
            return
        self._generation += 1
        for tag in tags:
            for member in self._members.get(tag, ()):
                member.recheck.set()

    async def _tick(self, hub: Hub) -> None:
        try:
            while self._members:
                await asyncio.sleep(TICK_SECONDS)
                epoch = hub.delivery_epoch(DELIVERY_TRUST_SECONDS)
                if epoch is None or epoch != self._epoch:
                    self._wake_all()
                self._epoch = epoch
        finally:
            self._ticker = None

    def _wake_all(self) -> None:
        self._generation += 1
        for members in self._members.values():
            for member in members:
                member.recheck.set()


# Keyed weakly: a registry lives as long as its app's database, and refers to neither.
_REGISTRIES: "weakref.WeakKeyDictionary[Invalidations, LiveSockets]" = weakref.WeakKeyDictionary()
