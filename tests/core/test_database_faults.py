"""A real `storefront serve` on a PostgreSQL of the test's own, under a steady mix of
reads and writes, while that PostgreSQL is stopped (fast: sessions terminated with 57P01)
or crash-stopped (immediate: recovery at the next start) and started again. Never a 500:
each answer is what the request asks for, or a 503 problem with Retry-After; the service
recovers by itself within seconds; every order it acknowledged exists afterwards, and the
stock adds up."""

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import asyncpg
import httpx
import pytest

from storefront.core import migrations
from tests.fixtures.identity import PASSWORD
from tests.fixtures.servers import REPO, free_port, wait_until_live
from tests.fixtures.throwaway_postgres import StopMode, ThrowawayPostgres, throwaway_postgres

__all__ = ["throwaway_postgres"]

pytestmark = pytest.mark.anyio

INITIAL_STOCK = 1_000_000
# Of steady load before the fault, once each kind of request has succeeded.
WARM_SECONDS = 0.5
OUTAGE_SECONDS = 2.0
# From the moment the restarted PostgreSQL accepts connections.
RECOVERY_SECONDS = 5.0
STEADY_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 15.0


@dataclass
class Shop:
    process: "subprocess.Popen[bytes]"
    base_url: str
    item_ids: list[int]
    user: dict[str, str]
    api_key: dict[str, str]
    log_path: Path

    def unhandled_errors(self) -> list[str]:
        """Log lines of the error boundary's 500s."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line[:2000] for line in lines if '"unhandled error"' in line]


async def _seed(
    base_url: str, admin_email: str
) -> tuple[list[int], dict[str, str], dict[str, str]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        token = await client.post(
            "/api/v1/auth/token", data={"username": admin_email, "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
        admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
        item_ids = []
        for index in range(3):
            item = {
                "sku": f"FAULT-{uuid.uuid4().hex[:8]}-{index}",
                "name": f"Fault item {index}",
                "category": "faults",
                "price": "2.50",
                "stock": INITIAL_STOCK,
            }
            created = await client.post("/api/v1/items", json=item, headers=admin)
            assert created.status_code == 201, created.text
            item_ids.append(int(created.json()["id"]))
        email = f"fault-{uuid.uuid4().hex[:8]}@example.com"
        signed_up = await client.post(
            "/api/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Fault"}
        )
        assert signed_up.status_code == 201, signed_up.text
        token = await client.post(
            "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
        user = {"Authorization": f"Bearer {token.json()['access_token']}"}
        key = await client.post("/api/v1/auth/api-keys", json={"name": "faults"}, headers=user)
        assert key.status_code == 201, key.text
        return item_ids, user, {"X-API-Key": key.json()["key"]}


@pytest.fixture(scope="module")
async def shop(
    throwaway_postgres: ThrowawayPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shop]:
    await anyio.to_thread.run_sync(migrations.upgrade, throwaway_postgres.url)
    directory = tmp_path_factory.mktemp("database-faults")
    port = free_port()
    admin_email = f"fault-admin-{uuid.uuid4().hex[:8]}@example.com"
    environment = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": throwaway_postgres.url,
        # In-memory platform services: the outage is PostgreSQL's alone.
        "REDIS_URL": "",
        "SECRET_KEY": "a-fault-test-secret-" + uuid.uuid4().hex,
        "FIRST_ADMIN_EMAIL": admin_email,
        "FIRST_ADMIN_PASSWORD": PASSWORD,
        "RATE_LIMIT_ENABLED": "false",
        # Every request authenticated by its API key writes the key's last use: a unit of
        # work in the API gate, before any route, outside FastAPI's exception handlers.
        "API_KEY_TOUCH_INTERVAL_SECONDS": "0",
        "HEALTH_CHECK_TIMEOUT_SECONDS": "1",
        "STORAGE_DIR": str(directory / "files"),
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "true",
    }
    log_path = directory / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "storefront.cli", "serve", "--port", str(port)],
            cwd=REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        await wait_until_live(base_url)
        item_ids, user, api_key = await _seed(base_url, admin_email)
        yield Shop(process, base_url, item_ids, user, api_key, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass(frozen=True)
class Answer:
    kind: str
    started: float
    ended: float
    status: int
    content_type: str = ""
    code: str = ""
    retry_after: str | None = None
    order_id: int | None = None
    database_check: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _answer(kind: str, started: float, response: httpx.Response) -> Answer:
    content_type = response.headers.get("content-type", "")
    body = response.json() if "json" in content_type else {}
    return Answer(
        kind,
        started,
        time.monotonic(),
        response.status_code,
        content_type=content_type,
        code=str(body.get("code", "")),
        retry_after=response.headers.get("retry-after"),
        order_id=int(body["id"]) if kind == "order" and response.status_code == 201 else None,
        database_check=str(body.get("checks", {}).get("database", "")),
    )


Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
# Clients per kind of request, each sending one request after the other.
CONCURRENCY = {"item": 4, "orders": 3, "order": 3, "ready": 1}
DATABASE_KINDS = {"item", "orders", "order"}


@dataclass
class Load:
    shop: Shop
    answers: list[Answer] = field(default_factory=list)
    stopping: bool = False

    def senders(self) -> dict[str, Send]:
        shop = self.shop

        async def item(client: httpx.AsyncClient, n: int) -> httpx.Response:
            """Anonymous: one read on the read pool (asyncpg's own)."""
            return await client.get(f"/api/v1/items/{shop.item_ids[n % len(shop.item_ids)]}")

        async def orders(client: httpx.AsyncClient, n: int) -> httpx.Response:
            """Authenticated by a token: the ORM in a unit of work."""
            return await client.get("/api/v1/orders", headers=shop.user)

        async def order(client: httpx.AsyncClient, n: int) -> httpx.Response:
            """A write: statements on asyncpg inside a unit of work (lock, stock, rows)."""
            lines = [{"item_id": item_id, "quantity": 1 + n % 3} for item_id in shop.item_ids]
            headers = {**shop.user, "Idempotency-Key": uuid.uuid4().hex}
            return await client.post("/api/v1/orders", json={"lines": lines}, headers=headers)

        async def ready(client: httpx.AsyncClient, n: int) -> httpx.Response:
            await asyncio.sleep(0.1)
            return await client.get("/health/ready")

        return {"item": item, "orders": orders, "order": order, "ready": ready}

    async def _client(self, kind: str, send: Send) -> None:
        async with httpx.AsyncClient(
            base_url=self.shop.base_url, timeout=REQUEST_TIMEOUT_SECONDS
        ) as client:
            n = 0
            while not self.stopping:
                started = time.monotonic()
                try:
                    response = await send(client, n)
                except httpx.HTTPError as error:
                    self.answers.append(
                        Answer(kind, started, time.monotonic(), 0, error=repr(error))
                    )
                else:
                    self.answers.append(_answer(kind, started, response))
                n += 1

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        senders = self.senders()
        async with anyio.create_task_group() as group:
            for kind, count in CONCURRENCY.items():
                for _ in range(count):
                    group.start_soon(self._client, kind, senders[kind])
            try:
                yield
            finally:
                self.stopping = True

    def first_success(self, kind: str, *, sent_after: float) -> float | None:
        ends = [a.ended for a in self.answers if a.kind == kind and a.started > sent_after and a.ok]
        return min(ends, default=None)

    async def wait_until_each_succeeded(self, *, sent_after: float, timeout: float) -> float:
        """When each kind of request sent after `sent_after` has been answered 2xx."""
        async with asyncio.timeout(timeout):
            while True:
                firsts = [self.first_success(kind, sent_after=sent_after) for kind in CONCURRENCY]
                if None not in firsts:
                    return max(first for first in firsts if first is not None)
                await asyncio.sleep(0.05)

    def between(self, start: float, end: float) -> list[Answer]:
        return [a for a in self.answers if a.started >= start and a.ended <= end]


def _expected(answer: Answer) -> bool:
    if answer.ok:
        return True
    if answer.kind == "ready":
        return answer.status == 503 and answer.database_check == "error"
    return (
        answer.status == 503
        and answer.content_type == "application/problem+json"
        and answer.code == "SERVICE_UNAVAILABLE"
        and answer.retry_after is not None
    )


async def wait_until_ready(shop: Shop) -> None:
    async with httpx.AsyncClient(base_url=shop.base_url, timeout=5) as client:
        async with asyncio.timeout(RECOVERY_SECONDS):
            while (await client.get("/health/ready")).status_code != 200:
                await asyncio.sleep(0.1)


def summary(mode: str, answers: list[Answer], *, outage: float, recovery: float) -> str:
    counts = Counter((a.kind, a.status) for a in answers)
    statuses = ", ".join(f"{kind} {status}: {n}" for (kind, status), n in sorted(counts.items()))
    return f"stop -m {mode}: down {outage:.1f} s, recovered in {recovery:.2f} s; {statuses}"


def assert_never_a_500(answers: list[Answer]) -> None:
    unexpected = [a for a in answers if not _expected(a)]
    statuses = sorted({(a.kind, a.status, a.code or a.error[:80]) for a in unexpected})
    assert not unexpected, f"{len(unexpected)} answers neither 2xx nor a 503 problem: {statuses}"


async def assert_orders_kept(cluster: ThrowawayPostgres, shop: Shop, order_ids: list[int]) -> None:
    connection = await asyncpg.connect(cluster.dsn)
    try:
        found = await connection.fetch(
            'SELECT id FROM "order" WHERE id = ANY($1::int[])', order_ids
        )
        assert {row["id"] for row in found} == set(order_ids)
        # Stock taken and lines written are one transaction: whatever was committed, the
        # two agree (also for orders whose COMMIT was lost with the server, answered 503).
        rows = await connection.fetch(
            "SELECT i.id, i.stock, coalesce(sum(l.quantity), 0) AS sold FROM item i "
            "LEFT JOIN order_line l ON l.item_id = i.id WHERE i.id = ANY($1::int[]) "
            "GROUP BY i.id, i.stock",
            shop.item_ids,
        )
        assert {row["id"]: row["stock"] + row["sold"] for row in rows} == dict.fromkeys(
            shop.item_ids, INITIAL_STOCK
        )
    finally:
        await connection.close()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_postgresql_outage_is_503s_then_recovery_without_a_restart(
    shop: Shop, throwaway_postgres: ThrowawayPostgres, mode: StopMode
) -> None:
    await anyio.to_thread.run_sync(throwaway_postgres.ensure_started)
    await wait_until_ready(shop)
    load = Load(shop)
    async with load.running():
        await load.wait_until_each_succeeded(sent_after=0, timeout=RECOVERY_SECONDS)
        await asyncio.sleep(WARM_SECONDS)
        stopping_at = time.monotonic()
        await anyio.to_thread.run_sync(throwaway_postgres.stop, mode)
        stopped_at = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        starting_at = time.monotonic()
        await anyio.to_thread.run_sync(throwaway_postgres.start)
        started_at = time.monotonic()
        recovered_at = await load.wait_until_each_succeeded(
            sent_after=started_at, timeout=RECOVERY_SECONDS
        )
        await asyncio.sleep(STEADY_SECONDS)
        steady_from = time.monotonic() - STEADY_SECONDS

    answers = load.answers
    print(
        summary(mode, answers, outage=starting_at - stopping_at, recovery=recovered_at - started_at)
    )
    assert_never_a_500(answers)
    before = load.between(0, stopping_at)
    assert before and all(a.ok for a in before), "the service was not healthy before the fault"
    down = load.between(stopped_at, starting_at)
    for kind in DATABASE_KINDS:
        assert any(a.status == 503 for a in down if a.kind == kind), f"no 503 for {kind}"
    assert {a.database_check for a in down if a.kind == "ready"} == {"error"}
    assert recovered_at - started_at < RECOVERY_SECONDS
    # Recovered for good: no broken connection was kept to fail a later request.
    steady = [a for a in answers if a.started >= steady_from]
    assert steady and all(a.ok for a in steady), sorted({(a.kind, a.status) for a in steady})
    assert {a.database_check for a in steady if a.kind == "ready"} == {"ok"}

    order_ids = [a.order_id for a in answers if a.order_id is not None]
    assert len(order_ids) > 10
    await assert_orders_kept(throwaway_postgres, shop, order_ids)
    # The same process all along: it recovered by itself.
    assert shop.process.poll() is None
    assert not shop.unhandled_errors()


async def test_an_api_key_request_while_postgresql_is_down_is_a_503(
    shop: Shop, throwaway_postgres: ThrowawayPostgres
) -> None:
    await anyio.to_thread.run_sync(throwaway_postgres.ensure_started)
    await wait_until_ready(shop)
    async with httpx.AsyncClient(base_url=shop.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        # The key's holder is known (in memory) from here on; each use writes its last use.
        assert (await client.get("/api/v1/orders", headers=shop.api_key)).status_code == 200
        await anyio.to_thread.run_sync(throwaway_postgres.stop, "fast")
        try:
            response = await client.get("/api/v1/orders", headers=shop.api_key)
        finally:
            await anyio.to_thread.run_sync(throwaway_postgres.start)
    assert _expected(_answer("key", 0, response)), (response.status_code, response.text)
