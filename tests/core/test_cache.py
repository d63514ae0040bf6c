"""The application cache on memory and, when REDIS_URL is set, on the real Redis.

Two AppCache instances on one backend stand for two processes. Every test has its own
namespace and deletes only its own keys: the Redis database is shared.
"""

import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Any
from uuid import uuid4

import anyio
import pytest
from anyio.abc import TaskGroup
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import BaseModel
from redis.asyncio import Redis

from storefront.core.cache import JSON, AppCache, Cache, CacheValueError, create_cache
from storefront.core.cache.backend_health import BackendHealth
from storefront.core.config import Settings
from tests.conftest import make_client

pytestmark = pytest.mark.anyio

OpenCache = Callable[..., AppCache]


def make_settings(redis_url: str, **overrides: Any) -> Settings:
    return Settings(_env_file=None, environment="test", redis_url=redis_url, **overrides)


class Computation:
    """A compute function that counts its calls and answers which call it was."""

    def __init__(self, *, delay: float = 0.0, value: JSON = None) -> None:
        self.calls = 0
        self.delay = delay
        self.value = value

    async def __call__(self) -> JSON:
        self.calls += 1
        call = self.calls
        await anyio.sleep(self.delay)
        return {"call": call} if self.value is None else self.value


@pytest.fixture
def namespace() -> str:
    return f"test:cache:{uuid4().hex}:"


@pytest.fixture
async def open_cache(redis_url: str, namespace: str) -> AsyncIterator[OpenCache]:
    caches: list[AppCache] = []

    def open_(redis_url: str = redis_url, **options: Any) -> AppCache:
        settings_options = {
            name: options.pop(name) for name in list(options) if name.startswith("cache_")
        }
        cache = create_cache(
            make_settings(redis_url, **settings_options), namespace=namespace, **options
        )
        caches.append(cache)
        return cache

    yield open_
    for cache in caches:
        await cache.aclose()
    if redis_url:
        plain = Redis.from_url(redis_url)
        try:
            async for name in plain.scan_iter(match=f"{namespace}*"):
                await plain.unlink(name)
        finally:
            await plain.aclose()


@pytest.fixture
def cache(open_cache: OpenCache) -> AppCache:
    return open_cache()


async def stored_bytes(cache: AppCache, redis_url: str, key: str) -> bytes | None:
    name = cache.keys.entry(key)
    if not redis_url:
        # The in-memory store lives in this process: read cashews' stored bytes directly.
        raw: bytes | None = await cache._backend.get_raw(name)
        return raw
    plain = Redis.from_url(redis_url)
    try:
        stored = await plain.get(name)
    finally:
        await plain.aclose()
    assert stored is None or isinstance(stored, bytes)
    return stored


async def test_a_miss_computes_and_later_calls_hit(cache: AppCache) -> None:
    compute = Computation()
    assert await cache.get_or_compute("popular", compute) == {"call": 1}
    assert await cache.get_or_compute("popular", compute) == {"call": 1}
    assert await cache.get_or_compute("other", compute) == {"call": 2}
    assert compute.calls == 2


async def test_values_read_back_exactly_and_cannot_be_changed_by_callers(
    cache: AppCache,
) -> None:
    value: JSON = {"items": [{"id": 1, "price": "12.50", "ratio": 1.0, "new": True}], "x": None}
    first = await cache.get_or_compute("k", Computation(value=value))
    assert isinstance(first, dict)
    first["items"].clear()

    again = await cache.get_or_compute("k", Computation(value="unused"))
    assert again == {"items": [{"id": 1, "price": "12.50", "ratio": 1.0, "new": True}], "x": None}
    assert isinstance(again, dict) and type(again["items"][0]["ratio"]) is float


async def test_an_entry_expires_after_its_ttl(cache: AppCache) -> None:
    compute = Computation()
    await cache.get_or_compute("short", compute, ttl=0.5)
    assert await cache.get_or_compute("short", compute, ttl=0.5) == {"call": 1}
    await anyio.sleep(0.8)
    assert await cache.get_or_compute("short", compute, ttl=0.5) == {"call": 2}


async def test_the_default_ttl_comes_from_settings(open_cache: OpenCache) -> None:
    cache = open_cache(cache_default_ttl_seconds=1)
    compute = Computation()
    await cache.get_or_compute("default", compute)
    await anyio.sleep(1.3)
    assert await cache.get_or_compute("default", compute) == {"call": 2}


async def test_entries_are_stored_as_json_under_the_namespace(
    cache: AppCache, redis_url: str, namespace: str
) -> None:
    value: JSON = [{"id": 7, "name": "Lamp", "tags": ["a"], "price": 9.5}]
    await cache.get_or_compute("popular", Computation(value=value), tags=["orders"])

    raw = await stored_bytes(cache, redis_url, "popular")
    assert raw is not None
    assert not raw.startswith(b"\x80")  # the pickle protocol marker
    assert json.loads(raw)["value"] == value
    assert cache.keys.entry("popular").startswith(namespace)


class Color(StrEnum):
    RED = "red"


class Point(BaseModel):
    x: int


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"at": datetime(2026, 1, 1, tzinfo=UTC)}, "value['at'] is a datetime"),
        ([Point(x=1)], "value[0] is a Point"),
        ({"price": Decimal("1.50")}, "is a Decimal"),
        ((1, 2), "is a tuple"),
        ({"a": {1, 2}}, "is a set"),
        ({"color": Color.RED}, "is a Color"),
        ({1: "one"}, "int key 1"),
        ({"ratio": float("nan")}, "no NaN"),
        (object(), "is a object"),
    ],
)
async def test_values_that_are_not_plain_json_are_refused_not_pickled(
    cache: AppCache, redis_url: str, value: Any, named: str
) -> None:
    async def compute() -> Any:
        return value

    with pytest.raises(CacheValueError, match=r"not JSON|JSON keys|JSON has no") as refused:
        await cache.get_or_compute("bad", compute)
    assert named in str(refused.value)
    assert await stored_bytes(cache, redis_url, "bad") is None
    assert await cache.get_or_compute("bad", Computation(value="fine")) == "fine"


async def test_the_refusal_names_model_dump_for_pydantic_models(cache: AppCache) -> None:
    async def compute() -> Any:
        return Point(x=1)

    with pytest.raises(CacheValueError, match=r"model_dump\(mode='json'\)"):
        await cache.get_or_compute("model", compute)


async def test_fifty_concurrent_misses_compute_once(cache: AppCache) -> None:
    compute = Computation(delay=0.2)
    results: list[JSON] = []

    async def read() -> None:
        results.append(await cache.get_or_compute("hot", compute))

    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(read)

    assert compute.calls == 1
    assert results == [{"call": 1}] * 50


async def test_concurrent_misses_in_two_processes_compute_once_on_redis(
    open_cache: OpenCache, redis_url: str
) -> None:
    first, second = open_cache(), open_cache()
    compute = Computation(delay=0.2)
    results: list[JSON] = []

    async def read(cache: AppCache) -> None:
        results.append(await cache.get_or_compute("hot", compute))

    async with anyio.create_task_group() as group:
        for index in range(50):
            group.start_soon(read, first if index % 2 else second)

    # In memory every process has its own cache, so each computes once.
    assert compute.calls == (1 if redis_url else 2)
    assert len(results) == 50
    if redis_url:
        assert results == [{"call": 1}] * 50


async def test_a_failed_computation_is_shared_by_its_waiters_and_not_cached(
    cache: AppCache,
) -> None:
    calls = 0

    async def fail() -> JSON:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.1)
        raise RuntimeError("database down")

    errors: list[BaseException] = []

    async def read() -> None:
        try:
            await cache.get_or_compute("flaky", fail)
        except RuntimeError as error:
            errors.append(error)

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(read)

    assert calls == 1
    assert len(errors) == 10
    # Nothing was cached and the lock was released: the next call computes at once.
    with anyio.fail_after(1):
        assert await cache.get_or_compute("flaky", Computation(value="ok")) == "ok"


async def test_waiters_take_over_when_the_computing_caller_is_cancelled(
    cache: AppCache,
) -> None:
    compute = Computation(delay=0.3)
    leader_scope = anyio.CancelScope()
    computing = anyio.Event()
    results: list[JSON] = []

    async def lead() -> None:
        async def first_compute() -> JSON:
            computing.set()
            return await compute()

        with leader_scope:
            await cache.get_or_compute("k", first_compute)

    async def follow() -> None:
        results.append(await cache.get_or_compute("k", compute))

    async with anyio.create_task_group() as group:
        group.start_soon(lead)
        await computing.wait()
        for _ in range(5):
            group.start_soon(follow)
        await anyio.sleep(0.05)
        leader_scope.cancel()  # e.g. its client went away

    assert results == [{"call": 2}] * 5
    assert compute.calls == 2


async def _hold_the_lock(cache: AppCache, key: str, group: TaskGroup) -> None:
    """Start a computation in `cache` that never ends: a stuck or dead lock holder."""
    started = anyio.Event()

    async def never_ends() -> JSON:
        started.set()
        await anyio.sleep_forever()
        return None

    group.start_soon(cache.get_or_compute, key, never_ends)
    await started.wait()


async def test_waiters_stop_waiting_for_a_stuck_holder(open_cache: OpenCache) -> None:
    holder = open_cache(lock_ttl_seconds=60)
    waiter = open_cache(lock_wait_seconds=0.3)
    async with anyio.create_task_group() as group:
        await _hold_the_lock(holder, "stuck", group)
        with anyio.fail_after(5):
            assert await waiter.get_or_compute("stuck", Computation(value="mine")) == "mine"
        group.cancel_scope.cancel()


async def test_the_lock_of_a_dead_holder_expires(open_cache: OpenCache) -> None:
    holder = open_cache(lock_ttl_seconds=0.3)
    waiter = open_cache(lock_wait_seconds=60)
    async with anyio.create_task_group() as group:
        await _hold_the_lock(holder, "dead", group)
        # Without expiry the waiter would wait its full 60 seconds.
        with anyio.fail_after(5):
            assert await waiter.get_or_compute("dead", Computation(value="mine")) == "mine"
        group.cancel_scope.cancel()


async def test_invalidate_forgets_only_the_given_keys(cache: AppCache) -> None:
    compute = Computation()
    for key in ("a", "b", "c"):
        await cache.get_or_compute(key, compute)

    await cache.invalidate("a", "b")

    assert await cache.get_or_compute("a", compute) == {"call": 4}
    assert await cache.get_or_compute("b", compute) == {"call": 5}
    assert await cache.get_or_compute("c", compute) == {"call": 3}


async def test_invalidate_tags_forgets_every_entry_with_a_tag(cache: AppCache) -> None:
    compute = Computation()
    await cache.get_or_compute("popular", compute, tags=["orders", "items"])
    await cache.get_or_compute("best-sellers", compute, tags=["orders"])
    await cache.get_or_compute("categories", compute, tags=["items"])

    await cache.invalidate_tags("orders")

    assert await cache.get_or_compute("popular", compute, tags=["orders", "items"]) == {"call": 4}
    assert await cache.get_or_compute("best-sellers", compute, tags=["orders"]) == {"call": 5}
    assert await cache.get_or_compute("categories", compute, tags=["items"]) == {"call": 3}


async def test_invalidation_reaches_other_processes_on_redis(
    open_cache: OpenCache, redis_url: str
) -> None:
    writer, reader = open_cache(), open_cache()
    compute = Computation()
    await reader.get_or_compute("by-key", compute)
    await reader.get_or_compute("by-tag", compute, tags=["orders"])

    await writer.invalidate("by-key")
    await writer.invalidate_tags("orders")

    by_key = await reader.get_or_compute("by-key", compute)
    by_tag = await reader.get_or_compute("by-tag", compute, tags=["orders"])
    assert reader.shared is bool(redis_url)
    if redis_url:
        assert (by_key, by_tag) == ({"call": 3}, {"call": 4})
    else:
        # In memory, invalidation stays in the process that made it.
        assert (by_key, by_tag) == ({"call": 1}, {"call": 2})


@pytest.mark.parametrize("scope", ["key", "tag"])
async def test_a_value_computed_before_an_invalidation_is_not_served_after_it(
    open_cache: OpenCache, scope: str
) -> None:
    cache = open_cache()
    computing, release = anyio.Event(), anyio.Event()

    async def slow_stale_read() -> JSON:
        computing.set()
        await release.wait()
        return "stale"

    async with anyio.create_task_group() as group:
        group.start_soon(partial(cache.get_or_compute, "popular", slow_stale_read, tags=["orders"]))
        await computing.wait()
        if scope == "key":
            await cache.invalidate("popular")
        else:
            await cache.invalidate_tags("orders")
        # Another entry with the tag, computed after the invalidation, renews its token.
        await cache.get_or_compute("best-sellers", Computation(), tags=["orders"])
        release.set()

    fresh = await cache.get_or_compute("popular", Computation(value="fresh"), tags=["orders"])
    assert fresh == "fresh"


async def test_a_different_tag_set_is_a_miss(cache: AppCache) -> None:
    compute = Computation()
    await cache.get_or_compute("k", compute, tags=["a"])
    assert await cache.get_or_compute("k", compute, tags=["a", "b"]) == {"call": 2}
    assert await cache.get_or_compute("k", compute, tags=["b", "a", "a"]) == {"call": 2}


async def test_bad_keys_tags_and_ttls_are_refused(cache: AppCache) -> None:
    compute = Computation()
    with pytest.raises(ValueError, match="non-empty string"):
        await cache.get_or_compute("", compute)
    with pytest.raises(TypeError, match="not one string"):
        await cache.get_or_compute("k", compute, tags="orders")
    with pytest.raises(ValueError, match="non-empty string"):
        await cache.invalidate_tags("")
    with pytest.raises(ValueError, match="ttl is positive"):
        await cache.get_or_compute("k", compute, ttl=0)
    assert compute.calls == 0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_unreachable_redis_fails_soft_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{closed_port()}/0"
    cache = create_cache(make_settings(url), namespace=f"test:cache:{uuid4().hex}:")
    compute = Computation()
    try:
        with caplog.at_level(logging.WARNING, logger="storefront.cache"):
            results = [await cache.get_or_compute("k", compute) for _ in range(3)]
            await cache.invalidate("k")
            await cache.invalidate_tags("orders")
    finally:
        await cache.aclose()

    assert results == [{"call": 1}, {"call": 2}, {"call": 3}]
    warnings = [r for r in caplog.records if r.name == "storefront.cache"]
    assert len(warnings) == 1
    assert "unreachable" in warnings[0].getMessage()
    assert "ConnectionError" in warnings[0].getMessage()
    assert "hunter2" not in caplog.text


def test_the_backend_is_retried_after_a_pause_and_warned_about_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = 0.0
    health = BackendHealth(retry_after_seconds=5, warn_every_seconds=60, clock=lambda: now)
    with caplog.at_level(logging.INFO, logger="storefront.cache"):
        health.record_failure(ConnectionError())
        assert not health.available()
        now = 5.0
        assert health.available()
        health.record_failure(ConnectionError())
        health.record_success()
        now = 61.0
        health.record_failure(ConnectionError())

    levels = [r.levelname for r in caplog.records if r.name == "storefront.cache"]
    assert levels == ["WARNING", "INFO", "WARNING"]


async def test_routes_receive_the_cache_from_the_lifespan_state(cache: AppCache) -> None:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, AppCache]]:
        yield {"cache": cache}

    app = FastAPI(lifespan=lifespan)
    compute = Computation()

    @app.get("/popular")
    async def read_popular(route_cache: Cache) -> JSON:
        return await route_cache.get_or_compute("popular", compute)

    async with LifespanManager(app) as manager, make_client(manager.app) as client:
        first = (await client.get("/popular")).json()
        second = (await client.get("/popular")).json()
    assert first == second == {"call": 1}
    assert await cache.get_or_compute("popular", Computation()) == {"call": 1}
