"""The rate limiter end to end: a small app with limited routes, in memory and on Redis."""

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel
from redis.asyncio import Redis
from starlette.types import ASGIApp, Receive, Scope, Send

from storefront.core.config import Settings
from storefront.core.errors import NotFound
from storefront.core.middleware.observability import ObservabilityMiddleware
from storefront.core.middleware.security_headers import SecurityHeaders
from storefront.core.problems import install_problem_handlers
from storefront.core.ratelimit import (
    DEFAULT_RATE_LIMIT,
    RATE_LIMITED_RESPONSES,
    RateLimiter,
    check_login_rate,
    create_rate_limiter,
    rate_limit,
    rate_limiter_of,
)

pytestmark = pytest.mark.anyio

DEFAULT_LIMIT = 4
SEARCH_LIMIT = 2
LOGIN_LIMIT = 2
SOMEONE = "203.0.113.7"
RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


class Credentials(BaseModel):
    email: str


async def pretend_authentication(request: Request) -> None:
    # What the authentication dependency will do: name the user before the limiter runs.
    if user := request.headers.get("X-Test-User"):
        request.state.user_id = user


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    api = APIRouter(
        prefix="/api",
        dependencies=[Depends(pretend_authentication), DEFAULT_RATE_LIMIT],
        responses=RATE_LIMITED_RESPONSES,
    )

    @api.get("/things/{thing_id}")
    async def read_thing(thing_id: int) -> dict[str, int]:
        if thing_id == 404:
            raise NotFound()
        return {"id": thing_id}

    @api.get("/twice", dependencies=[rate_limit("default")])
    async def read_twice() -> dict[str, str]:
        return {}

    @api.get("/search", dependencies=[rate_limit("search")])
    async def search_things(q: str) -> dict[str, str]:
        return {"q": q}

    app.include_router(api)

    # Outside the default policy, so that only the login budget is measured.
    @app.post("/auth/token")
    async def issue_token(request: Request, credentials: Credentials) -> dict[str, str]:
        await check_login_rate(request, account=credentials.email)
        return {"token": "t"}

    app.add_middleware(ObservabilityMiddleware, metrics=None, security_headers=SecurityHeaders())
    return app


def with_lifespan_state(app: ASGIApp, limiter: RateLimiter) -> ASGIApp:
    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        # As uvicorn does: every request gets its own copy of the lifespan's state.
        scope["state"] = {"rate_limiter": limiter}
        await app(scope, receive, send)

    return serve


def limiter_settings(redis_url: str, **overrides: Any) -> Settings:
    # Hourly windows: a test never straddles the in-memory windows' boundaries.
    values: dict[str, Any] = {
        "rate_limit_default": f"{DEFAULT_LIMIT}/hour",
        "rate_limit_search": f"{SEARCH_LIMIT}/hour",
        "rate_limit_login": f"{LOGIN_LIMIT}/hour",
        **overrides,
    }
    return Settings(_env_file=None, environment="test", redis_url=redis_url, **values)


async def forget_keys(redis_url: str, key_prefix: str) -> None:
    # Other developers share this Redis database: delete our keys only, never FLUSHDB.
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{key_prefix}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
def key_prefix() -> str:
    return f"test:ratelimit:{uuid4().hex}"


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def limiter(
    redis_url: str, key_prefix: str, overrides: dict[str, Any]
) -> AsyncIterator[RateLimiter]:
    limiter = create_rate_limiter(limiter_settings(redis_url, **overrides), key_prefix=key_prefix)
    yield limiter
    await limiter.aclose()
    if redis_url:
        await forget_keys(redis_url, key_prefix)


@pytest.fixture
def app(limiter: RateLimiter) -> ASGIApp:
    return with_lifespan_state(build_app(), limiter)


def client_at(app: ASGIApp, ip: str = SOMEONE) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50_000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def budget(response: httpx.Response) -> tuple[int, int]:
    """(limit, remaining), after checking each rate-limit header is there exactly once."""
    for name in RATE_LIMIT_HEADERS:
        assert len(response.headers.get_list(name)) == 1, name
    reset = int(response.headers["ratelimit-reset"])
    assert 0 <= reset <= 3600
    return int(response.headers["ratelimit-limit"]), int(response.headers["ratelimit-remaining"])


async def test_a_limited_response_reports_the_budget(app: ASGIApp) -> None:
    async with client_at(app) as client:
        first = await client.get("/api/things/1")
        second = await client.get("/api/things/1")
    assert first.status_code == second.status_code == 200
    assert budget(first) == (DEFAULT_LIMIT, DEFAULT_LIMIT - 1)
    assert budget(second) == (DEFAULT_LIMIT, DEFAULT_LIMIT - 2)
    assert first.headers["x-content-type-options"] == "nosniff"


async def test_errors_raised_by_the_route_carry_the_budget(app: ASGIApp) -> None:
    async with client_at(app) as client:
        missing = await client.get("/api/things/404")
        invalid = await client.get("/api/things/not-a-number")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"
    assert budget(missing) == (DEFAULT_LIMIT, DEFAULT_LIMIT - 1)
    assert invalid.status_code == 422
    assert budget(invalid) == (DEFAULT_LIMIT, DEFAULT_LIMIT - 2)


async def test_a_spent_budget_is_a_429_problem_with_retry_after(app: ASGIApp) -> None:
    async with client_at(app) as client:
        allowed = [await client.get("/api/things/1") for _ in range(DEFAULT_LIMIT)]
        refused = await client.get("/api/things/1")
    assert [response.status_code for response in allowed] == [200] * DEFAULT_LIMIT
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "RATE_LIMITED"
    assert body["status"] == 429
    assert body["instance"] == "/api/things/1"
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert budget(refused) == (DEFAULT_LIMIT, 0)
    assert refused.headers["x-request-id"]


async def test_the_policy_closest_to_running_out_is_reported(app: ASGIApp) -> None:
    async with client_at(app) as client:
        first = await client.get("/api/search", params={"q": "tea"})
        second = await client.get("/api/search", params={"q": "tea"})
        refused = await client.get("/api/search", params={"q": "tea"})
        elsewhere = await client.get("/api/things/1")
    assert budget(first) == (SEARCH_LIMIT, SEARCH_LIMIT - 1)
    assert budget(second) == (SEARCH_LIMIT, 0)
    assert refused.status_code == 429
    assert budget(refused) == (SEARCH_LIMIT, 0)
    # Search spent its own budget; the default one counted all four requests.
    assert elsewhere.status_code == 200
    assert budget(elsewhere) == (DEFAULT_LIMIT, 0)


async def test_a_policy_attached_twice_counts_once(app: ASGIApp) -> None:
    async with client_at(app) as client:
        response = await client.get("/api/twice")
    assert budget(response) == (DEFAULT_LIMIT, DEFAULT_LIMIT - 1)


def test_the_429_is_documented_with_its_headers() -> None:
    operation = build_app().openapi()["paths"]["/api/things/{thing_id}"]["get"]
    refused = operation["responses"]["429"]
    assert "application/problem+json" in refused["content"]
    assert {"Retry-After", "RateLimit-Remaining"} <= set(refused["headers"])


async def test_users_and_anonymous_ips_have_budgets_of_their_own(app: ASGIApp) -> None:
    alice = {"X-Test-User": "alice"}
    async with client_at(app) as client:
        for _ in range(DEFAULT_LIMIT):
            assert (await client.get("/api/things/1", headers=alice)).status_code == 200
        assert (await client.get("/api/things/1", headers=alice)).status_code == 429
        anonymous = await client.get("/api/things/1")
        bob = await client.get("/api/things/1", headers={"X-Test-User": "bob"})
    async with client_at(app, "198.51.100.9") as elsewhere:
        alice_elsewhere = await elsewhere.get("/api/things/1", headers=alice)
    assert budget(anonymous) == (DEFAULT_LIMIT, DEFAULT_LIMIT - 1)
    assert budget(bob) == (DEFAULT_LIMIT, DEFAULT_LIMIT - 1)
    # A user's budget follows the user, whatever the address.
    assert alice_elsewhere.status_code == 429


@pytest.mark.parametrize("overrides", [{"trusted_proxies": ["10.0.0.0/8"]}])
async def test_forwarded_for_from_a_trusted_proxy_names_the_client(app: ASGIApp) -> None:
    async with client_at(app, "10.1.2.3") as proxy:
        for _ in range(DEFAULT_LIMIT):
            response = await proxy.get(
                "/api/things/1", headers={"X-Forwarded-For": "192.0.2.44, 10.9.9.9"}
            )
            assert response.status_code == 200
        refused = await proxy.get("/api/things/1", headers={"X-Forwarded-For": "192.0.2.44"})
        other = await proxy.get("/api/things/1", headers={"X-Forwarded-For": "192.0.2.45"})
        the_proxy_itself = await proxy.get("/api/things/1")
    assert refused.status_code == 429
    assert budget(other) == (DEFAULT_LIMIT, DEFAULT_LIMIT - 1)
    assert budget(the_proxy_itself) == (DEFAULT_LIMIT, DEFAULT_LIMIT - 1)


@pytest.mark.parametrize("overrides", [{"trusted_proxies": ["10.0.0.0/8"]}])
async def test_forwarded_for_from_anyone_else_is_ignored(app: ASGIApp) -> None:
    async with client_at(app, SOMEONE) as client:
        statuses = [
            (
                await client.get("/api/things/1", headers={"X-Forwarded-For": f"192.0.2.{n}"})
            ).status_code
            for n in range(DEFAULT_LIMIT + 1)
        ]
    assert statuses == [200] * DEFAULT_LIMIT + [429]


async def test_sign_in_attempts_are_counted_per_ip_and_account(app: ASGIApp) -> None:
    async def sign_in(client: httpx.AsyncClient, email: str) -> httpx.Response:
        return await client.post("/auth/token", json={"email": email})

    async with client_at(app) as client:
        attempts = [await sign_in(client, "ann@example.com") for _ in range(LOGIN_LIMIT)]
        refused = await sign_in(client, "  ANN@example.com ")
        other_account = await sign_in(client, "ben@example.com")
    async with client_at(app, "198.51.100.9") as elsewhere:
        other_ip = await sign_in(elsewhere, "ann@example.com")
    assert [budget(attempt) for attempt in attempts] == [(LOGIN_LIMIT, 1), (LOGIN_LIMIT, 0)]
    assert refused.status_code == 429
    assert refused.json()["code"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
    assert other_account.status_code == 200
    assert other_ip.status_code == 200


@pytest.mark.parametrize("overrides", [{"rate_limit_enabled": False}])
async def test_a_disabled_limiter_does_nothing(app: ASGIApp) -> None:
    async with client_at(app) as client:
        responses = [await client.get("/api/things/1") for _ in range(DEFAULT_LIMIT + 2)]
    assert [response.status_code for response in responses] == [200] * (DEFAULT_LIMIT + 2)
    assert not any(name in responses[-1].headers for name in RATE_LIMIT_HEADERS)


async def test_an_app_without_a_limiter_in_its_state_is_refused() -> None:
    request = Request({"type": "http", "headers": [], "state": {}})
    with pytest.raises(RuntimeError, match="rate_limiter"):
        rate_limiter_of(request)


async def test_concurrent_hits_from_two_processes_share_one_budget(
    redis_url: str, key_prefix: str
) -> None:
    settings = limiter_settings(redis_url, rate_limit_default="10/hour")
    # Two limiters on one Redis are two API processes; in memory, one process is all there is.
    limiters = [create_rate_limiter(settings, key_prefix=key_prefix) for _ in range(2)]
    if not redis_url:
        limiters = limiters[:1]
    try:
        decisions = await asyncio.gather(
            *(limiters[n % len(limiters)].hit("default", "ip:192.0.2.1") for n in range(50))
        )
    finally:
        for limiter in limiters:
            await limiter.aclose()
        if redis_url:
            await forget_keys(redis_url, key_prefix)
    assert all(decision is not None for decision in decisions)
    assert sum(decision.allowed for decision in decisions if decision is not None) == 10


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_unreachable_redis_fails_open_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"
    # Probing the storage on every request: each one fails, and still only one warning.
    limiter = create_rate_limiter(limiter_settings(url), storage_retry_seconds=0)
    try:
        with caplog.at_level(logging.INFO, logger="storefront.ratelimit"):
            async with client_at(with_lifespan_state(build_app(), limiter)) as client:
                responses = [await client.get("/api/things/1") for _ in range(DEFAULT_LIMIT + 2)]
    finally:
        await limiter.aclose()
    assert [response.status_code for response in responses] == [200] * (DEFAULT_LIMIT + 2)
    # No budget is known, so none is claimed.
    assert not any(name in responses[0].headers for name in RATE_LIMIT_HEADERS)
    records = [record for record in caplog.records if record.name == "storefront.ratelimit"]
    assert [record.levelno for record in records] == [logging.WARNING]
    assert records[0].exc_info is None
    assert "hunter2" not in caplog.text
    assert "ConnectionError" in records[0].getMessage()


async def test_a_hung_redis_costs_one_timeout_then_is_left_alone() -> None:
    connections = 0

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = limiter_settings(f"redis://127.0.0.1:{port}/0", redis_timeout_seconds=0.2)
    limiter = create_rate_limiter(settings, storage_retry_seconds=60)
    try:
        async with client_at(with_lifespan_state(build_app(), limiter)) as client:
            started = time.perf_counter()
            first = await client.get("/api/things/1")
            waited = time.perf_counter() - started
            probed = connections
            rest = [await client.get("/api/things/1") for _ in range(DEFAULT_LIMIT + 1)]
    finally:
        await limiter.aclose()
        server.close()
        await server.wait_closed()
    assert first.status_code == 200
    # Bounded by the socket timeout (and one retry), not by Redis ever answering.
    assert waited < 5
    assert probed >= 1
    assert [response.status_code for response in rest] == [200] * (DEFAULT_LIMIT + 1)
    assert connections == probed
