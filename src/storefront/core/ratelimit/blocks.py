"""A client's budget spent in blocks: one trip to the shared storage per block, not per
request.

The storage's sliding-window counter (`limits`, one atomic script in Redis) is asked for
a block of the budget at once; the process then spends it locally. A block is counted in
the storage the moment it is taken and is used only within the storage's window that
counted it, so every process together never lets through more than the limit: blocks
never overshoot. What they can cost is the other way round: tokens a process took but
did not use before the window ended are lost, at most one partial block per process. A
block starts at one request and doubles each time the last one was used up, to at most
`max_block` (2 % of the limit for RATE_LIMIT_DEFAULT; 1, an exact count, for the login
and search policies), so a client that sends few requests wastes nothing.

A refusal is remembered until the storage says the budget grows again.
"""

import asyncio
import math
import time
from dataclasses import dataclass
from math import inf
from typing import cast

from limits import RateLimitItem
from limits.aio.storage import SlidingWindowCounterSupport, Storage

MAX_KEYS = 50_000


@dataclass(slots=True)
class Verdict:
    allowed: bool
    remaining: int
    reset_at: float  # Unix time when one more request would be let through


@dataclass(slots=True)
class _Block:
    tokens: int  # taken from the storage, not spent yet
    size: int
    # Budget left in the storage after the block was taken, and when that grows again.
    remaining: int
    reset_at: float
    # When the storage's window that counted the block ends: the tokens go with it.
    expires_at: float
    allowed: bool = True


class Blocks:
    def __init__(self, storage: Storage, item: RateLimitItem, *, max_block: int) -> None:
        self._storage = cast(SlidingWindowCounterSupport, storage)
        self._item = item
        self._max_block = max(1, max_block)
        self._blocks: dict[str, _Block] = {}
        self._taking: dict[str, asyncio.Future[None]] = {}

    async def hit(self, key: str) -> Verdict:
        """Spend one request of `key`'s budget (a storage key: the policy and the client);
        storage errors propagate."""
        while True:
            now = time.time()
            block = self._blocks.get(key)
            if block is not None and now < block.expires_at:
                if not block.allowed:
                    return Verdict(False, 0, block.reset_at)
                if block.tokens > 0:
                    block.tokens -= 1
                    return Verdict(True, block.remaining + block.tokens, block.reset_at)
            taking = self._taking.get(key)
            if taking is None:
                break
            # Another request is taking the next block: share it rather than take two.
            await asyncio.shield(taking)
        size = 1
        if block is not None and block.allowed and now < block.expires_at:
            size = min(self._max_block, block.size * 2)
        future = asyncio.get_running_loop().create_future()
        self._taking[key] = future
        try:
            block = await self._take(key, size)
        finally:
            del self._taking[key]
            future.set_result(None)
        if block.allowed:
            block.tokens -= 1
            return Verdict(True, block.remaining + block.tokens, block.reset_at)
        return Verdict(False, 0, block.reset_at)

    async def _take(self, key: str, size: int) -> _Block:
        item = self._item
        storage_key, expiry, amount = item.key_for(key), item.get_expiry(), item.amount
        taken = await self._storage.acquire_sliding_window_entry(storage_key, amount, expiry, size)
        if not taken and size > 1:
            size = 1
            taken = await self._storage.acquire_sliding_window_entry(
                storage_key, amount, expiry, size
            )
        window = await self._storage.get_sliding_window(storage_key, expiry)
        now = time.time()
        remaining, reset_at, window_end = _stats(amount, expiry, window, now)
        if taken:
            block = _Block(size, size, remaining, reset_at, window_end)
        else:
            block = _Block(0, size, 0, reset_at, reset_at, allowed=False)
        self._keep(key, block, now)
        return block

    def _keep(self, key: str, block: _Block, now: float) -> None:
        blocks = self._blocks
        if len(blocks) >= MAX_KEYS and key not in blocks:
            for stale in [k for k, b in blocks.items() if b.expires_at <= now]:
                del blocks[stale]
            while len(blocks) >= MAX_KEYS:
                del blocks[next(iter(blocks))]
        blocks[key] = block


def _stats(
    amount: int, expiry: int, window: tuple[int, float, int, float], now: float
) -> tuple[int, float, float]:
    """The budget left, when it next grows, and when the current window ends: the
    arithmetic of `limits`' SlidingWindowCounterRateLimiter.get_window_stats, plus the
    window's end, which it does not expose."""
    previous_count, previous_expires_in, current_count, current_expires_in = window
    weighted = previous_count * previous_expires_in / expiry + current_count
    remaining = max(0, amount - math.floor(weighted))
    previous_reset_in = previous_expires_in % (expiry / previous_count) if previous_count else inf
    current_reset_in = current_expires_in % expiry if current_count else inf
    reset_in = min(previous_reset_in, current_reset_in)
    reset_at = now + reset_in if reset_in < inf else now
    # The current counter lives two windows; it is shifted to "previous" after one.
    window_end = now + max(0.0, current_expires_in - expiry)
    return remaining, reset_at, window_end
