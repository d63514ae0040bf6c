"""OTEL_ENABLED=true: traces reach a real OTLP receiver (HTTP/protobuf, and gRPC), decoded
from the `ExportTraceServiceRequest`s the app sends; a job's span is a child of the request
that enqueued it, also in a separate `storefront worker`; an unreachable collector costs
requests nothing; off, nothing of it is even imported."""

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storefront.catalog.models import Item
from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.core.logging import configure_logging
from storefront.core.tracing.provider import SHUTDOWN_SECONDS
from storefront.jobs.models import Job
from storefront.mail.tasks import SEND_MAIL
from storefront.main import create_app
from storefront.orders.models import IdempotencyRecord, Order, OrderLine
from storefront.users.models import Role, User
from tests.conftest import running_client
from tests.fixtures.backends import Backend
from tests.fixtures.identity import PASSWORD
from tests.fixtures.jobs import job_settings
from tests.fixtures.otlp import OtlpReceiver, ReceivedSpan, otlp_grpc_receiver, otlp_http_receiver
from tests.fixtures.smtp import SmtpServer, smtp_server
from tests.fixtures.throwaway_redis import ThrowawayRedis, throwaway_redis
from tests.fixtures.workers import StartWorker, start_worker_process

__all__ = [
    "job_settings",
    "otlp_grpc_receiver",
    "otlp_http_receiver",
    "smtp_server",
    "start_worker_process",
    "throwaway_redis",
]

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
PREFIX = "traced-"
SQL_SYSTEMS = {"postgresql", "sqlite"}


@pytest.fixture
def otel_environment(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """None of the machine's OTEL_* variables; exports every 50 ms. Call it with the
    collector's endpoint (OTEL_EXPORTER_OTLP_ENDPOINT)."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")

    def point_at(endpoint: str) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)

    return point_at


@pytest.fixture
async def traced_cleanup(engine: AsyncEngine) -> AsyncIterator[None]:
    """What these tests commit goes afterwards: their users' orders, items, mails, users."""
    users = select(User.id).where(User.email.like(f"{PREFIX}%"))
    yield
    orders = select(Order.id).where(Order.user_id.in_(users))
    mails = select(Job.id).where(
        Job.name == SEND_MAIL, Job.payload["to"].as_string().like(f"{PREFIX}%")
    )
    async with engine.begin() as connection:
        await connection.execute(delete(OrderLine).where(OrderLine.order_id.in_(orders)))
        await connection.execute(delete(Order).where(Order.user_id.in_(users)))
        await connection.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.user_id.in_(users))
        )
        await connection.execute(delete(Item).where(Item.sku.like(f"{PREFIX.upper()}%")))
        await connection.execute(delete(Job).where(Job.id.in_(mails)))
        await connection.execute(delete(User).where(User.email.like(f"{PREFIX}%")))


@pytest.fixture
def traced_settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "otel_enabled": True,
            "log_json": True,
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_timeout_seconds": 5.0,
            "rate_limit_default": "100000/minute",
        }
    )


@dataclass
class Traced:
    client: httpx.AsyncClient
    receiver: OtlpReceiver
    log: io.StringIO
    database: Database

    def access_lines(self) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.log.getvalue().splitlines() if line[:1] == "{"]
        return [line for line in lines if line.get("logger") == "storefront.access"]


@asynccontextmanager
async def traced_app(
    traced_settings: Settings, base_settings: Settings, receiver: OtlpReceiver
) -> AsyncIterator[Traced]:
    """The whole app on a database of its own (its engine and pools are what is traced),
    its JSON log captured."""
    database = Database(traced_settings)
    app = create_app(traced_settings, database=database)
    log = io.StringIO()
    configure_logging(traced_settings, stream=log)
    try:
        async with running_client(app) as client:
            yield Traced(client, receiver, log, database)
    finally:
        configure_logging(base_settings)
        await database.dispose()


@pytest.fixture
async def traced(
    traced_settings: Settings,
    settings: Settings,
    otel_environment: Callable[[str], None],
    otlp_http_receiver: OtlpReceiver,
    traced_cleanup: None,
) -> AsyncIterator[Traced]:
    otel_environment(otlp_http_receiver.endpoint)
    async with traced_app(traced_settings, settings, otlp_http_receiver) as traced:
        yield traced


async def new_user(
    client: httpx.AsyncClient, engine: AsyncEngine, *, admin: bool = False
) -> dict[str, str]:
    email = f"{PREFIX}{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post(
        "/api/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Traced"}
    )
    assert response.status_code == 201, response.text
    if admin:
        async with engine.begin() as connection:
            await connection.execute(
                update(User).where(User.email == email).values(role=Role.ADMIN)
            )
    token = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}", "X-Email": email}


async def new_item(client: httpx.AsyncClient, admin: dict[str, str]) -> int:
    body = {
        "sku": f"{PREFIX.upper()}{uuid.uuid4().hex[:10]}",
        "name": "Traced teapot",
        "category": "traced",
        "price": "12.50",
        "stock": 10,
    }
    response = await client.post("/api/v1/items", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def server_spans(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.kind == "SERVER" and span.name == name]


def descends_from(span: ReceivedSpan, ancestor: ReceivedSpan, spans: list[ReceivedSpan]) -> bool:
    by_id = {each.span_id: each for each in spans if each.trace_id == ancestor.trace_id}
    current: ReceivedSpan | None = span
    while current is not None and current.trace_id == ancestor.trace_id:
        if current.parent_span_id == ancestor.span_id:
            return True
        current = by_id.get(current.parent_span_id or "")
    return False


def db_system(span: ReceivedSpan) -> Any:
    return span.attributes.get("db.system.name", span.attributes.get("db.system"))


# -- a request, its SQL statements and Redis commands --------------------------------------


async def test_an_order_is_one_trace_from_its_request_to_each_statement(
    traced: Traced, engine: AsyncEngine, backend: Backend, traced_settings: Settings
) -> None:
    client = traced.client
    admin = await new_user(client, engine, admin=True)
    item_id = await new_item(client, admin)
    buyer = await new_user(client, engine)

    response = await client.post(
        "/api/v1/orders", json={"lines": [{"item_id": item_id, "quantity": 2}]}, headers=buyer
    )

    assert response.status_code == 201, response.text
    spans = await traced.receiver.wait_for(lambda s: bool(server_spans(s, "POST /api/v1/orders")))
    [request] = server_spans(spans, "POST /api/v1/orders")
    assert request.service == "storefront"
    assert request.scope == "fastapi"
    assert request.attributes["http.route"] == "/api/v1/orders"
    assert request.attributes["http.request.method"] == "POST"
    assert request.attributes["http.response.status_code"] == 201
    assert not request.error
    trace = [span for span in spans if span.trace_id == request.trace_id]
    assert all(descends_from(span, request, spans) for span in trace if span is not request)

    sql = [span for span in trace if db_system(span) in SQL_SYSTEMS]
    statements = "\n".join(str(span.attributes.get("db.statement", "")) for span in sql)
    # The order path: stock taken, the order and its lines written.
    assert "UPDATE item" in statements, statements
    assert 'INSERT INTO "order"' in statements, statements
    assert "INSERT INTO order_line" in statements, statements
    expected_scope = (
        # The statements run straight on asyncpg (core/statements.py): its instrumentation.
        "opentelemetry.instrumentation.asyncpg"
        if backend.is_postgres
        else "opentelemetry.instrumentation.sqlalchemy"
    )
    assert {span.scope for span in sql} == {expected_scope}
    assert all(span.kind == "CLIENT" for span in sql)
    if traced_settings.redis_url:
        # The rate limiter's budget, taken in Redis.
        redis = [span for span in trace if db_system(span) == "redis"]
        assert redis, sorted(span.name for span in trace)

    [line] = [line for line in traced.access_lines() if line["route"] == "/api/v1/orders"]
    assert line["status"] == 201
    assert line["trace_id"] == request.trace_id
    assert line["span_id"] == request.span_id


async def test_reads_on_the_read_pool_are_traced(traced: Traced) -> None:
    """`Database.reads`: on PostgreSQL asyncpg's own pool, outside any unit of work."""
    response = await traced.client.get("/api/v1/items", params={"per_page": 5})

    assert response.status_code == 200
    spans = await traced.receiver.wait_for(lambda s: bool(server_spans(s, "GET /api/v1/items")))
    [request] = server_spans(spans, "GET /api/v1/items")
    reads = [
        span
        for span in spans
        if span.trace_id == request.trace_id
        and db_system(span) in SQL_SYSTEMS
        and "FROM item" in str(span.attributes.get("db.statement"))
    ]
    assert reads
    assert all(descends_from(span, request, spans) for span in reads)


# -- jobs ----------------------------------------------------------------------------------


async def test_a_job_is_a_child_of_the_request_that_enqueued_it(
    traced: Traced, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    """Sign-up enqueues the welcome mail; here (JOBS_INLINE) it runs in this process."""
    client = traced.client
    email = f"{PREFIX}{uuid.uuid4().hex[:12]}@example.com"

    response = await client.post(
        "/api/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Traced"}
    )

    assert response.status_code == 201, response.text
    spans = await traced.receiver.wait_for(
        lambda s: (
            bool(server_spans(s, "POST /api/v1/users"))
            and any(span.name == "mail.send" for span in s)
        )
    )
    [request] = server_spans(spans, "POST /api/v1/users")
    [job] = [span for span in spans if span.name == "mail.send"]
    assert job.kind == "CONSUMER"
    assert job.scope == "storefront"
    assert job.trace_id == request.trace_id
    assert descends_from(job, request, spans)
    assert job.attributes["messaging.destination.name"] == SEND_MAIL
    assert job.attributes["storefront.job.attempt"] == 1
    assert not job.error
    [smtp] = [span for span in spans if span.name == "smtp send"]
    assert smtp.kind == "CLIENT"
    assert smtp.parent_span_id == job.span_id
    assert smtp.attributes["server.port"] == smtp_server.port
    assert [mail.rcpt_tos for mail in smtp_server.received] == [[email]]
    # The job's own statements (recording its outcome) are in its trace too.
    assert any(
        span.parent_span_id == job.span_id and db_system(span) in SQL_SYSTEMS for span in spans
    )

    async with engine.connect() as connection:
        [context] = (
            await connection.execute(
                select(Job.trace_context).where(
                    Job.name == SEND_MAIL, Job.payload["to"].as_string() == email
                )
            )
        ).scalars()
    assert context is not None
    assert context["traceparent"].split("-")[1] == request.trace_id


async def test_a_job_run_by_a_worker_process_joins_the_trace_of_its_request(
    traced_settings: Settings,
    settings: Settings,
    otel_environment: Callable[[str], None],
    otlp_http_receiver: OtlpReceiver,
    traced_cleanup: None,
    throwaway_redis: ThrowawayRedis,
    start_worker_process: StartWorker,
    smtp_server: SmtpServer,
) -> None:
    """The API sends the job to the Redis stream; a `storefront worker` of its own runs
    it and exports to the same receiver, as another service. Its batch is due only in
    ten minutes: its spans leave when it stops (SIGTERM)."""
    otel_environment(otlp_http_receiver.endpoint)
    api_settings = traced_settings.model_copy(
        update={"redis_url": throwaway_redis.url, "jobs_inline": False}
    )
    worker = start_worker_process(
        throwaway_redis.url,
        OTEL_ENABLED="true",
        OTEL_BSP_SCHEDULE_DELAY="600000",
        SMTP_HOST=smtp_server.host,
        SMTP_PORT=str(smtp_server.port),
    )
    email = f"{PREFIX}{uuid.uuid4().hex[:12]}@example.com"
    async with traced_app(api_settings, settings, otlp_http_receiver) as api:
        response = await api.client.post(
            "/api/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Traced"}
        )
        assert response.status_code == 201, response.text
        async with asyncio.timeout(60):
            while not any(event["event"] == "job succeeded" for event in worker.log_events()):
                assert worker.process.poll() is None, worker.log_text()[-3000:]
                await asyncio.sleep(0.1)
    assert [mail.rcpt_tos for mail in smtp_server.received] == [[email]]
    assert not [span for span in otlp_http_receiver.snapshot() if span.service != "storefront"]

    worker.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.process.wait, 30) == 0

    spans = await otlp_http_receiver.wait_for(
        lambda s: any(span.name == "smtp send" for span in s), timeout=5
    )
    [request] = server_spans(spans, "POST /api/v1/users")
    assert request.service == "storefront"
    [job] = [span for span in spans if span.name == "mail.send"]
    assert job.service == "storefront-worker"
    assert job.trace_id == request.trace_id
    assert descends_from(job, request, spans)
    [smtp] = [span for span in spans if span.name == "smtp send"]
    assert smtp.service == "storefront-worker"
    assert smtp.parent_span_id == job.span_id
    # The worker's idle loop (XREADGROUP every 2 s, heartbeats, the sweep) exported nothing.
    worker_spans = [span for span in spans if span.service == "storefront-worker"]
    assert all(span.trace_id == request.trace_id for span in worker_spans)
    assert any(db_system(span) in SQL_SYSTEMS for span in worker_spans)
    events = worker.log_events()
    started = [event for event in events if event["event"] == "job started"]
    assert [event["trace_id"] for event in started] == [request.trace_id]
    assert "Traceback" not in worker.log_text()


async def test_spans_still_queued_when_the_app_stops_are_exported(
    traced_settings: Settings,
    settings: Settings,
    otel_environment: Callable[[str], None],
    otlp_http_receiver: OtlpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    otel_environment(otlp_http_receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    async with traced_app(traced_settings, settings, otlp_http_receiver) as traced:
        assert (await traced.client.get("/health/live")).status_code == 200
        await asyncio.sleep(0.3)
        assert otlp_http_receiver.snapshot() == []

    assert server_spans(otlp_http_receiver.snapshot(), "GET /health/live")


# -- the exporters -------------------------------------------------------------------------


async def test_traces_go_over_grpc_when_the_protocol_says_so(
    traced_settings: Settings,
    settings: Settings,
    otel_environment: Callable[[str], None],
    otlp_grpc_receiver: OtlpReceiver,
) -> None:
    otel_environment(otlp_grpc_receiver.endpoint)
    grpc_settings = traced_settings.model_copy(update={"otel_exporter_otlp_protocol": "grpc"})
    assert grpc_settings.otel_traces_protocol == "grpc"

    async with traced_app(grpc_settings, settings, otlp_grpc_receiver) as traced:
        response = await traced.client.get("/api/v1/items")
        assert response.status_code == 200
        spans = await otlp_grpc_receiver.wait_for(
            lambda s: bool(server_spans(s, "GET /api/v1/items"))
        )

    [request] = server_spans(spans, "GET /api/v1/items")
    assert request.attributes["http.response.status_code"] == 200
    assert any(
        span.trace_id == request.trace_id and db_system(span) in SQL_SYSTEMS for span in spans
    )


def test_the_traces_protocol_wins_and_unknown_protocols_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    assert Settings(_env_file=None).otel_traces_protocol == "grpc"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
    assert Settings(_env_file=None).otel_traces_protocol == "http/protobuf"
    # OTLP/JSON is a standard value the Python SDK has no exporter for.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    with pytest.raises(ValidationError, match="otel_exporter_otlp_traces_protocol"):
        Settings(_env_file=None)


@pytest.fixture
def silent_collector() -> Iterator[str]:
    """Accepts connections and never answers: each export waits out its timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("collector", ["closed", "silent"])
async def test_an_unreachable_collector_neither_slows_nor_fails_requests(
    collector: str,
    traced_settings: Settings,
    settings: Settings,
    otel_environment: Callable[[str], None],
    silent_collector: str,
    traced_cleanup: None,
) -> None:
    otel_environment(closed_port() if collector == "closed" else silent_collector)
    slowest = 0.0
    async with traced_app(traced_settings, settings, OtlpReceiver()) as traced:
        # Long enough for several export attempts (every 50 ms) to fail or hang meanwhile.
        deadline = time.monotonic() + 1.5
        count = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            items = await traced.client.get("/api/v1/items")
            live = await traced.client.get("/health/live")
            slowest = max(slowest, time.monotonic() - started)
            assert (items.status_code, live.status_code) == (200, 200)
            count += 1
        stopping = time.monotonic()
    stopped_in = time.monotonic() - stopping

    assert count >= 10
    # An export blocks only its own thread: with retries (1 s, 2 s…) or a 10 s timeout in
    # the request path, a pair of requests would take seconds.
    assert slowest < 0.5, slowest
    # Stopping waits for the last export, but not for ever.
    assert stopped_in < SHUTDOWN_SECONDS + 2.0, stopped_in


# -- off -----------------------------------------------------------------------------------

OFF_PROBE = """
import asyncio, json, sys
import asyncpg, httpx, redis.asyncio
from asgi_lifespan import LifespanManager
from storefront.core.config import Settings
from storefront.main import create_app

settings = Settings(
    _env_file=None, environment="test", database_url=sys.argv[1], first_admin_email="",
    job_sweep_enabled=False,
)

async def main():
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/health/live")).status_code == 200
            assert (await client.get("/api/v1/items")).status_code == 200
        # Not opentelemetry.sdk itself: redis-py imports the SDK's metrics module when
        # it is installed (for an observability of its own, off unless initialised).
        tracing = (
            "opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.instrumentation",
            "grpc", "storefront.core.tracing.provider",
        )
        loaded = sorted(name for name in sys.modules if name.startswith(tracing))
        wrapped = [
            name for name, function in [
                ("asyncpg", asyncpg.Connection.fetch),
                ("redis", redis.asyncio.Redis.execute_command),
            ]
            if hasattr(function, "__wrapped__")
        ]
        telemetry = app._telemetry["tracing"]
        print(json.dumps({"loaded": loaded, "wrapped": wrapped, "telemetry": telemetry}))

asyncio.run(main())
"""


def test_off_nothing_is_imported_or_wrapped(backend: Backend, tmp_path: Path) -> None:
    """The default: no trace SDK, exporter or instrumentation in the process, no library
    wrapped, FastAPI's telemetry off (in a process of its own: this one traced)."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("OTEL_")
    }
    database_url = backend.database_url
    if not backend.is_postgres:
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'off.db'}"
        subprocess.run(
            [sys.executable, "-m", "storefront.cli", "migrate"],
            cwd=REPO,
            env={**environment, "DATABASE_URL": database_url},
            check=True,
            capture_output=True,
        )
    result = subprocess.run(
        [sys.executable, "-c", OFF_PROBE, database_url],
        cwd=REPO,
        env={**environment, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"loaded": [], "wrapped": [], "telemetry": False}
