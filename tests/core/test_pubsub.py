"""The pub/sub hub: fan-out, exactly-once delivery, slow consumers, reference counts and
recovery from a lost Redis connection. Each test uses channels of its own."""

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from starlette.requests import HTTPConnection

from storefront.core.config import Settings
from storefront.core.pubsub import (
    JSON,
    Hub,
    HubUnavailable,
    InMemoryHub,
    PubSubHub,
    RedisHub,
    Subscription,
    SubscriptionOverflow,
    create_hub,
    get_hub,
)
from tests.conftest import make_client
from tests.fixtures.backends import require_redis, unreachable
from tests.fixtures.proxy import TcpProxy
from tests.fixtures.stalling_proxy import StallingProxy

pytestmark = pytest.mark.anyio

WAIT_SECONDS = 5.0
CLOSED_PORT = 1
PROBE = -1


def hub_settings(redis_url: str, **overrides: Any) -> Settings:
    settings = Settings(_env_file=None, environment="test", redis_url=redis_url)
    return settings.model_copy(update=overrides)


@asynccontextmanager
async def running(settings: Settings, redis: Redis | None = None) -> AsyncIterator[Hub]:
    hub = create_hub(settings, redis)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.aclose()


@pytest.fixture
async def hub(redis_url: str) -> AsyncIterator[Hub]:
    async with running(hub_settings(redis_url)) as hub:
        yield hub


@pytest.fixture
async def real_redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        unreachable("REDIS_URL is needed: this behaviour exists only with Redis")
    await require_redis(url)
    return url


def new_channel() -> str:
    return f"test:{uuid.uuid4().hex}"


async def receive(subscription: Subscription) -> dict[str, JSON]:
    async with asyncio.timeout(WAIT_SECONDS):
        return (await anext(subscription)).data


async def receive_until_done(subscription: Subscription) -> list[JSON]:
    """The `n` of every message before the one marked done, in arrival order."""
    numbers: list[JSON] = []
    async with asyncio.timeout(WAIT_SECONDS):
        async for message in subscription:
            if message.data.get("done"):
                return numbers
            numbers.append(message.data["n"])
    raise AssertionError("the subscription ended before the done marker")


async def publish_numbers(hub: Hub, channel: str, numbers: range) -> None:
    for number in numbers:
        await hub.publish(channel, {"n": number})


async def publish_until_heard(publisher: Hub, channel: str, subscription: Subscription) -> None:
    """Probe until the subscriber hears one: then its process is subscribed on Redis again."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            await publisher.publish(channel, {"n": PROBE})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await anext(subscription)
                    return


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        while not condition():
            await asyncio.sleep(0.01)


async def test_every_subscriber_gets_every_message_once_in_order(hub: Hub) -> None:
    channel, other = new_channel(), new_channel()
    async with (
        hub.subscribe(channel) as first,
        hub.subscribe(channel) as second,
        hub.subscribe(channel) as third,
        hub.subscribe(other) as bystander,
    ):
        await publish_numbers(hub, channel, range(100))
        await hub.publish(channel, {"done": True})
        await hub.publish(other, {"done": True})

        for subscription in (first, second, third):
            assert await receive_until_done(subscription) == list(range(100))
        assert await receive_until_done(bystander) == []


async def test_subscribers_get_the_json_not_the_publishers_object(hub: Hub) -> None:
    channel = new_channel()
    payload: dict[str, JSON] = {"order_id": 7, "tags": ["a"], "paid": None}
    async with hub.subscribe(channel) as subscription:
        await hub.publish(channel, payload)
        payload["tags"] = ["changed after publishing"]

        async with asyncio.timeout(WAIT_SECONDS):
            message = await anext(subscription)
    assert message.channel == channel
    assert message.data == {"order_id": 7, "tags": ["a"], "paid": None}
    assert orjson.loads(message.raw) == message.data


async def test_what_json_cannot_carry_is_refused_at_publish(hub: Hub) -> None:
    not_json: dict[str, Any] = {"ids": {1, 2}}
    with pytest.raises(TypeError):
        await hub.publish(new_channel(), not_json)


async def test_two_processes_on_one_redis_each_get_every_message_once(
    real_redis_url: str,
) -> None:
    settings = hub_settings(real_redis_url)
    channel = new_channel()
    async with (
        running(settings) as process_a,
        running(settings) as process_b,
        process_a.subscribe(channel) as on_a,
        process_a.subscribe(channel) as also_on_a,
        process_b.subscribe(channel) as on_b,
    ):
        await publish_numbers(process_a, channel, range(100))
        await publish_numbers(process_b, channel, range(100, 200))
        await process_b.publish(channel, {"done": True})

        for subscription in (on_a, also_on_a, on_b):
            assert await receive_until_done(subscription) == list(range(200))


async def test_a_slow_consumer_is_dropped_without_delaying_the_others(redis_url: str) -> None:
    queue_size, count = 8, 40
    channel = new_channel()
    loop = asyncio.get_running_loop()

    async def read_fast(subscription: Subscription) -> list[tuple[JSON, float]]:
        received: list[tuple[JSON, float]] = []
        async for message in subscription:
            sent_at = message.data["sent_at"]
            assert isinstance(sent_at, float)
            received.append((message.data["n"], loop.time() - sent_at))
            if len(received) == count:
                break
        return received

    async with (
        running(hub_settings(redis_url, pubsub_queue_size=queue_size)) as hub,
        hub.subscribe(channel) as never_reads,
        hub.subscribe(channel) as fast,
    ):
        reader = asyncio.create_task(read_fast(fast))
        for number in range(count):
            await hub.publish(channel, {"n": number, "sent_at": loop.time()})
            await asyncio.sleep(0.005)
        async with asyncio.timeout(WAIT_SECONDS):
            received = await reader

        assert [number for number, _ in received] == list(range(count))
        # Held back by the reader that never reads, the fast one would get nothing past its
        # queue (the order above fails); the delay is only a generous bound.
        assert max(delay for _, delay in received) < 1.0
        assert never_reads.overflowed
        assert hub.consumer_count(channel) == 1
        with pytest.raises(SubscriptionOverflow):
            await anext(never_reads)


async def test_leaving_removes_only_that_consumer(hub: Hub) -> None:
    channel = new_channel()
    async with hub.subscribe(channel) as staying:
        async with hub.subscribe(channel):
            assert hub.consumer_count(channel) == 2
        assert hub.consumer_count(channel) == 1

        await hub.publish(channel, {"n": 1})
        assert await receive(staying) == {"n": 1}
    assert hub.consumer_count(channel) == 0


async def test_a_cancelled_consumer_leaves(hub: Hub) -> None:
    channel = new_channel()
    subscribed = asyncio.Event()

    async def consume() -> None:
        async with hub.subscribe(channel) as subscription:
            subscribed.set()
            async for _ in subscription:
                pass

    task = asyncio.create_task(consume())
    async with asyncio.timeout(WAIT_SECONDS):
        await subscribed.wait()
    assert hub.consumer_count(channel) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hub.consumer_count(channel) == 0


async def test_one_redis_subscription_per_channel_until_the_last_consumer_leaves(
    real_redis_url: str,
) -> None:
    channel = new_channel()

    async def redis_subscribers(redis: Redis) -> int:
        [(_, count)] = await redis.pubsub_numsub(f"storefront:{channel}")
        return int(count)

    async with Redis.from_url(real_redis_url) as shared:
        async with running(hub_settings(real_redis_url), shared) as hub:
            async with hub.subscribe(channel), hub.subscribe(channel):
                assert await redis_subscribers(shared) == 1
            async with asyncio.timeout(WAIT_SECONDS):
                while await redis_subscribers(shared) != 0:
                    await asyncio.sleep(0.01)
        # The app's shared client is lent to the hub, not handed over.
        assert await shared.ping()


async def test_a_subscription_survives_losing_redis_and_resumes(real_redis_url: str) -> None:
    url = make_url(real_redis_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 6379)
    await proxy.start()
    proxied_url = url.set(port=proxy.port).render_as_string(hide_password=False)
    channel = new_channel()
    try:
        async with (
            running(hub_settings(proxied_url)) as hub,
            running(hub_settings(real_redis_url)) as publisher,
            hub.subscribe(channel) as subscription,
        ):
            assert isinstance(hub, RedisHub)
            await publisher.publish(channel, {"n": 0})
            assert await receive(subscription) == {"n": 0}

            await proxy.cut()
            await wait_until(lambda: not hub.is_connected)
            await asyncio.sleep(0.3)  # long enough for a reconnection attempt to fail
            assert not hub.is_connected
            await proxy.start()

            await publish_until_heard(publisher, channel, subscription)
            await publish_numbers(publisher, channel, range(1, 21))
            await publisher.publish(channel, {"done": True})
            received = await receive_until_done(subscription)
            assert [number for number in received if number != PROBE] == list(range(1, 21))
            assert hub.consumer_count(channel) == 1
    finally:
        await proxy.cut()


async def test_pings_keep_an_idle_connection_and_expose_a_silent_one(
    real_redis_url: str,
) -> None:
    url = make_url(real_redis_url)
    proxy = StallingProxy(url.host or "127.0.0.1", url.port or 6379)
    await proxy.start()
    proxied_url = url.set(port=proxy.port).render_as_string(hide_password=False)
    keepalive = 0.2
    hub = RedisHub(
        proxied_url,
        publisher=Redis.from_url(real_redis_url),
        owns_publisher=True,
        queue_size=16,
        timeout_seconds=0.3,
        keepalive_seconds=keepalive,
        heartbeat_seconds=0.05,
    )
    await hub.start()
    channel = new_channel()
    try:
        async with hub.subscribe(channel) as subscription:
            await asyncio.sleep(3 * keepalive)  # idle past the keepalive: pings answer
            await hub.publish(channel, {"n": 1})
            assert await receive(subscription) == {"n": 1}
            assert proxy.connections == 1

            proxy.stall()
            await wait_until(lambda: not hub.is_connected)
            await publish_until_heard(hub, channel, subscription)
            assert proxy.connections == 2
    finally:
        await hub.aclose()
        await proxy.cut()


async def test_an_unreachable_redis_fails_fast_and_leaves_nothing_behind() -> None:
    settings = hub_settings(f"redis://127.0.0.1:{CLOSED_PORT}/0", redis_timeout_seconds=0.5)
    channel = new_channel()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with running(settings) as hub:
        with pytest.raises(HubUnavailable):
            async with hub.subscribe(channel):
                pass
        with pytest.raises(HubUnavailable):
            await hub.publish(channel, {"n": 1})
        assert hub.consumer_count(channel) == 0
    assert loop.time() - started < 3


async def test_closing_the_hub_ends_every_subscription(redis_url: str) -> None:
    channel = new_channel()
    hub = create_hub(hub_settings(redis_url))
    await hub.start()
    async with hub.subscribe(channel) as subscription:
        await hub.aclose()
        async with asyncio.timeout(WAIT_SECONDS):
            assert [message async for message in subscription] == []
    with pytest.raises(HubUnavailable):
        await hub.publish(channel, {"n": 1})
    with pytest.raises(HubUnavailable):
        async with hub.subscribe(channel):
            pass


async def test_the_backend_follows_redis_url() -> None:
    async with running(hub_settings("")) as in_memory:
        assert isinstance(in_memory, InMemoryHub)
    async with running(hub_settings(f"redis://127.0.0.1:{CLOSED_PORT}/0")) as through_redis:
        assert isinstance(through_redis, RedisHub)


async def test_the_dependency_finds_the_hub_in_app_state() -> None:
    hub = InMemoryHub(queue_size=1)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Hub]]:
        yield {"hub": hub}

    app = FastAPI(lifespan=lifespan)

    @app.get("/hub")
    async def read_hub(found: PubSubHub) -> dict[str, bool]:
        return {"same": found is hub}

    async with LifespanManager(app) as manager, make_client(manager.app) as client:
        assert (await client.get("/hub")).json() == {"same": True}
    websocket = HTTPConnection({"type": "websocket", "state": {"hub": hub}})
    assert await get_hub(websocket) is hub
