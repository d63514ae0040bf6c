"""RATE_LIMIT_DEFAULT spent in blocks taken from the shared counter (ratelimit/blocks.py):
never more than the limit across processes, a bounded shortfall, and one trip to the
storage per block rather than per request."""

import asyncio
from typing import Any
from uuid import uuid4

import pytest
from limits import parse
from limits.aio.storage import MemoryStorage

from storefront.core.ratelimit import create_rate_limiter
from storefront.core.ratelimit.blocks import Blocks
from tests.core.test_ratelimit import forget_keys, limiter_settings

pytestmark = pytest.mark.anyio

LIMIT = 1000
MAX_BLOCK = LIMIT // 50  # the default policy's 2 %


class CountingStorage(MemoryStorage):
    """Memory storage that counts the trips a limiter makes to it."""

    def __init__(self) -> None:
        super().__init__()
        self.acquires = 0

    async def acquire_sliding_window_entry(self, *args: Any, **kwargs: Any) -> bool:
        self.acquires += 1
        return await super().acquire_sliding_window_entry(*args, **kwargs)


async def test_processes_sharing_a_budget_never_pass_more_than_the_limit(
    redis_url: str,
) -> None:
    prefix = f"test:blocks:{uuid4().hex}"
    settings = limiter_settings(redis_url, rate_limit_default=f"{LIMIT}/hour")
    # Two limiters on one Redis are two API processes; in memory, one process is all there is.
    limiters = [
        create_rate_limiter(settings, key_prefix=prefix) for _ in range(2 if redis_url else 1)
    ]
    try:
        decisions = await asyncio.gather(
            *(limiters[n % len(limiters)].hit("default", "user:7") for n in range(LIMIT + 500))
        )
    finally:
        for limiter in limiters:
            await limiter.aclose()
        if redis_url:
            await forget_keys(redis_url, prefix)
    allowed = sum(bool(decision and decision.allowed) for decision in decisions)
    # Never more than the limit; short of it by at most each process's unspent block.
    assert LIMIT - len(limiters) * MAX_BLOCK <= allowed <= LIMIT
    refused = [decision for decision in decisions if decision and not decision.allowed]
    assert refused
    assert all(decision.remaining == 0 and decision.retry_after >= 1 for decision in refused)


async def test_a_block_is_one_trip_to_the_storage_and_blocks_grow() -> None:
    storage = CountingStorage()
    blocks = Blocks(storage, parse(f"{LIMIT}/hour"), max_block=MAX_BLOCK)
    remaining = []
    for _ in range(200):
        verdict = await blocks.hit("default/user:7")
        assert verdict.allowed
        remaining.append(verdict.remaining)
    # 1, 2, 4, 8, 16, then blocks of 20: 5 + ceil((200 - 31) / 20) = 14 trips, not 200.
    assert storage.acquires == 14
    # The budget a client is told goes down by one per request.
    assert remaining == list(range(LIMIT - 1, LIMIT - 201, -1))


async def test_a_refusal_is_remembered_until_the_budget_grows() -> None:
    storage = CountingStorage()
    blocks = Blocks(storage, parse("3/hour"), max_block=1)
    verdicts = [await blocks.hit("default/ip:192.0.2.9") for _ in range(3)]
    assert all(verdict.allowed for verdict in verdicts)
    trips = storage.acquires
    refused = [await blocks.hit("default/ip:192.0.2.9") for _ in range(5)]
    assert not any(verdict.allowed for verdict in refused)
    assert storage.acquires == trips + 1  # asked once; the other refusals came from memory


async def test_small_limits_are_counted_one_request_at_a_time() -> None:
    """Login and search keep their limits exact: a block of one is a hit in the storage."""
    storage = CountingStorage()
    blocks = Blocks(storage, parse("10/minute"), max_block=1)
    for _ in range(10):
        assert (await blocks.hit("login/ip:192.0.2.1")).allowed
    assert storage.acquires == 10
    assert not (await blocks.hit("login/ip:192.0.2.1")).allowed
