"""Values kept in a process's memory are served only while the hub confirms delivery, in
the epoch they were read in, and never after an invalidation overtook their read."""

import asyncio

import pytest

from storefront.core.local_cache import TRUST_SECONDS, LocalCache

pytestmark = pytest.mark.anyio


class Delivery:
    """A hub's answer to `delivery_epoch`, set by the test."""

    def __init__(self) -> None:
        self.epoch: int | None = 0
        self.asked: list[float] = []

    def __call__(self, within_seconds: float) -> int | None:
        self.asked.append(within_seconds)
        return self.epoch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache(delivery: Delivery, clock: Clock, **options: int) -> LocalCache[str, str]:
    return LocalCache(
        ttl_seconds=60,
        max_entries=options.get("max_entries", 100),
        epoch=delivery,
        clock=clock,
    )


@pytest.fixture
def delivery() -> Delivery:
    return Delivery()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_value_is_kept_and_served(delivery: Delivery, clock: Clock) -> None:
    values = cache(delivery, clock)
    values.put("k", "v", stamp=values.stamp())
    assert values.get("k") == "v"
    assert delivery.asked[-1] == TRUST_SECONDS


def test_an_invalidation_during_the_read_drops_the_value(delivery: Delivery, clock: Clock) -> None:
    values = cache(delivery, clock)
    stamp = values.stamp()  # taken before reading the value
    values.invalidate(["user:1"])  # a change committed while it was read
    values.put("k", "stale", stamp=stamp, tags=["user:1"])
    assert values.get("k") is None


def test_invalidation_by_tag_forgets_only_the_tagged(delivery: Delivery, clock: Clock) -> None:
    values = cache(delivery, clock)
    values.put("a", "1", stamp=values.stamp(), tags=["user:1"])
    values.put("b", "2", stamp=values.stamp(), tags=["user:2"])
    values.invalidate(["user:1"])
    assert (values.get("a"), values.get("b")) == (None, "2")


def test_nothing_is_served_while_delivery_is_unconfirmed(delivery: Delivery, clock: Clock) -> None:
    values = cache(delivery, clock)
    values.put("k", "v", stamp=values.stamp())
    delivery.epoch = None  # no heartbeat answered for TRUST_SECONDS
    assert values.get("k") is None
    # Nor kept: what was read meanwhile may be missing a change that never arrived.
    values.put("k", "v", stamp=values.stamp())
    delivery.epoch = 0
    assert values.get("k") is None


def test_a_new_epoch_makes_every_older_value_untrustworthy(
    delivery: Delivery, clock: Clock
) -> None:
    values = cache(delivery, clock)
    values.put("k", "v", stamp=values.stamp())
    stamp = values.stamp()
    delivery.epoch = 1  # the connection was lost and made again: messages may be missing
    assert values.get("k") is None
    values.put("k", "read before the gap", stamp=stamp)
    assert values.get("k") is None
    values.put("k", "read after", stamp=values.stamp())
    assert values.get("k") == "read after"


def test_values_expire_and_the_oldest_make_room(delivery: Delivery, clock: Clock) -> None:
    values = cache(delivery, clock, max_entries=2)
    for key in ("a", "b", "c"):
        values.put(key, key, stamp=values.stamp())
    assert (values.get("a"), values.get("b"), values.get("c")) == (None, "b", "c")
    clock.now += 61
    assert values.get("b") is None
    assert len(values) == 1  # "c" expires when next asked for


async def test_concurrent_misses_load_once(delivery: Delivery, clock: Clock) -> None:
    values = cache(delivery, clock)
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return "loaded"

    got = await asyncio.gather(*(values.get_or_load("k", load) for _ in range(20)))
    assert got == ["loaded"] * 20
    assert loads == 1
    assert await values.get_or_load("k", load) == "loaded"
    assert loads == 1
