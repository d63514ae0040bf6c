"""The process's local caches by name, and their invalidations carried to every process.

    identities = invalidations.cache("auth.identities", ttl_seconds=60, max_entries=10_000)
    ...  # in a unit of work that ends a user's sessions:
    invalidate_after_commit(session, "auth.identities", f"user:{user.id}")

The invalidation is applied in this process once the commit succeeded, before the
response is sent, and published through the hub; see core/local_cache.py for the bound
on every other process.
"""

import logging
from collections.abc import Hashable, Iterable
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.effects import after_commit
from storefront.core.local_cache import LocalCache
from storefront.core.pubsub.hub import Hub, HubUnavailable
from storefront.core.pubsub.subscription import JSON, Message

CHANNEL = "storefront.invalidations"
SESSION_INFO_KEY = "storefront.invalidations"

logger = logging.getLogger("storefront.cache")


class Invalidations:
    def __init__(self) -> None:
        self._caches: dict[str, LocalCache[Any, Any]] = {}
        self._hub: Hub | None = None

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

    def detach(self) -> None:
        self._hub = None
        for cache in self._caches.values():
            cache.invalidate(everything=True)

    def _epoch(self, within_seconds: float) -> int | None:
        hub = self._hub
        return None if hub is None else hub.delivery_epoch(within_seconds)

    async def invalidate(self, name: str, tags: Iterable[str]) -> None:
        listed: list[JSON] = list(tags)
        self._apply(name, listed)  # type: ignore[arg-type]
        if self._hub is None:
            return
        try:
            await self._hub.publish(CHANNEL, {"cache": name, "tags": listed})
        except HubUnavailable:
            # Other processes cannot hear from Redis either, so their caches stop serving
            # within local_cache.TRUST_SECONDS; unless only this process's link is down.
            logger.warning("invalidation not published: Redis unavailable", extra={"cache": name})

    def _apply(self, name: str, tags: Iterable[Hashable]) -> None:
        cache = self._caches.get(name)
        if cache is not None:
            cache.invalidate(tags)

    def _receive(self, message: Message) -> None:
        name, tags = message.data.get("cache"), message.data.get("tags")
        if isinstance(name, str) and isinstance(tags, list):
            self._apply(name, [tag for tag in tags if isinstance(tag, str)])


def invalidate_after_commit(session: AsyncSession, cache: str, *tags: str) -> None:
    invalidations: Invalidations = session.info[SESSION_INFO_KEY]
    after_commit(session, partial(invalidations.invalidate, cache, tags))
