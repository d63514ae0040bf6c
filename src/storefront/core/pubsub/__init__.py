"""Live-update pub/sub: in memory for one process, through Redis across processes.

async with hub.subscribe("room:lobby") as subscription:
    async for message in subscription:
        ...  # message.data is the published object, message.raw its JSON
"""

from typing import Annotated

from fastapi import Depends
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from storefront.core.config import Settings
from storefront.core.pubsub.hub import Hub, HubUnavailable
from storefront.core.pubsub.memory import InMemoryHub
from storefront.core.pubsub.redis import RedisHub
from storefront.core.pubsub.subscription import JSON, Message, Subscription, SubscriptionOverflow
from storefront.core.redis import create_redis

__all__ = [
    "JSON",
    "Hub",
    "HubUnavailable",
    "InMemoryHub",
    "Message",
    "PubSubHub",
    "RedisHub",
    "Subscription",
    "SubscriptionOverflow",
    "create_hub",
    "get_hub",
]


def create_hub(settings: Settings, redis: Redis | None = None) -> Hub:
    """`redis`, the app's shared client, is reused to publish; without it the hub opens
    (and closes) its own. Subscribing always uses one dedicated connection."""
    publisher = redis if redis is not None else create_redis(settings)
    if publisher is None:
        return InMemoryHub(queue_size=settings.pubsub_queue_size)
    return RedisHub(
        settings.redis_url,
        publisher=publisher,
        owns_publisher=redis is None,
        queue_size=settings.pubsub_queue_size,
        timeout_seconds=settings.redis_timeout_seconds,
    )


async def get_hub(connection: HTTPConnection) -> Hub:
    hub: Hub = connection.state.hub
    return hub


PubSubHub = Annotated[Hub, Depends(get_hub)]
