"""Pub/sub inside one process: the embedded mode, where no other process can listen."""

from collections.abc import Mapping

from storefront.core.pubsub.hub import Hub, encode
from storefront.core.pubsub.subscription import JSON


class InMemoryHub(Hub):
    async def publish(self, channel: str, message: Mapping[str, JSON]) -> None:
        self._check_open()
        # Through JSON, as on Redis: subscribers get the same types in both modes and never
        # share the publisher's (mutable) objects.
        self._deliver(channel, encode(message))

    def delivery_epoch(self, within_seconds: float) -> int | None:
        return 0  # delivery is a direct call: nothing is ever missed

    # Nothing to connect to: delivery is a direct call, so a subscriber listens at once.
    async def start(self) -> None:
        pass

    async def _listen(self, channel: str) -> None:
        pass

    def _release(self, channel: str) -> None:
        pass
