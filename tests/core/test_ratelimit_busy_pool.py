"""A limiter whose Redis pool is busy (issue 12, finding 3): more clients at once than it
has connections, in front of a Redis made slow for real by a delaying proxy. A busy pool
is waited for, within a bound, and is never taken for an outage."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from storefront.core.ratelimit import RateLimitDecision, RateLimiter, create_rate_limiter
from storefront.core.ratelimit.limiter import MAX_CONNECTIONS, LimiterBusy
from tests.core.test_ratelimit import limiter_settings
from tests.fixtures.proxy import TcpProxy
from tests.fixtures.throwaway_redis import ThrowawayRedis, throwaway_redis

__all__ = ["throwaway_redis"]

pytestmark = pytest.mark.anyio

CLIENTS = MAX_CONNECTIONS * 6


class DelayingProxy(TcpProxy):
    """Holds every chunk `delay` seconds in each direction: a Redis far away or loaded."""

    def __init__(self, target_host: str, target_port: int, delay: float) -> None:
        super().__init__(target_host, target_port)
        self.delay = delay

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._writers.discard(writer)


@asynccontextmanager
async def limiter_behind(
    redis: ThrowawayRedis, *, delay: float, timeout: float
) -> AsyncIterator[RateLimiter]:
    proxy = DelayingProxy("127.0.0.1", redis.port, delay)
    await proxy.start()
    settings = limiter_settings(
        f"redis://127.0.0.1:{proxy.port}/0",
        rate_limit_default="100/hour",
        redis_timeout_seconds=timeout,
    )
    limiter = create_rate_limiter(settings)
    try:
        yield limiter
    finally:
        await limiter.aclose()
        await proxy.cut()


async def hit_from_every_client(limiter: RateLimiter) -> list[object]:
    # Each client its own key: no block is shared, every hit needs a connection.
    return await asyncio.gather(
        *(limiter.hit("default", f"ip:198.51.100.{n}") for n in range(CLIENTS)),
        return_exceptions=True,
    )


async def test_a_busy_pool_is_waited_for_and_every_hit_is_counted(
    throwaway_redis: ThrowawayRedis,
) -> None:
    # Six clients per connection, 20 ms per trip each way: about a second of queueing,
    # well within the 10 s wait.
    async with limiter_behind(throwaway_redis, delay=0.02, timeout=10) as limiter:
        outcomes = await hit_from_every_client(limiter)
        assert not limiter.outage.failing
    # 100 per hour per client: every one of them is counted and let through.
    assert [type(outcome) for outcome in outcomes] == [RateLimitDecision] * CLIENTS
    assert all(isinstance(outcome, RateLimitDecision) and outcome.allowed for outcome in outcomes)


async def test_a_pool_busy_past_the_wait_is_a_503_not_an_open_door(
    throwaway_redis: ThrowawayRedis,
) -> None:
    # 0.3 s per trip each way against a 0.8 s wait: the first clients are answered, the
    # ones queued behind several trips give up waiting; Redis never stops answering.
    async with limiter_behind(throwaway_redis, delay=0.3, timeout=0.8) as limiter:
        outcomes = await hit_from_every_client(limiter)
        assert not limiter.outage.failing
    counted = [outcome for outcome in outcomes if isinstance(outcome, RateLimitDecision)]
    busy = [outcome for outcome in outcomes if isinstance(outcome, LimiterBusy)]
    assert [outcome for outcome in outcomes if outcome is None] == []
    assert len(counted) + len(busy) == CLIENTS
    assert counted
    assert busy
    assert all(error.status_code == 503 and error.headers["Retry-After"] for error in busy)
