"""1,000 concurrent requests from one client against a real `storefront serve` (issue 12,
finding 3): RATE_LIMIT_DEFAULT=300/minute lets at most 300 through, the rest are 429s,
none a 500; on PostgreSQL + Redis when they are set, else on SQLite + in memory."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.core.test_ratelimit import forget_keys
from tests.fixtures.backends import Backend
from tests.fixtures.raw_http import LiveServer, exchange, live_server, request_head

pytestmark = pytest.mark.anyio

LIMIT = 300
REQUESTS = 1000


@pytest.fixture
def key_prefix(backend: Backend) -> Iterator[str]:
    key_prefix = f"test:flood:{uuid.uuid4().hex}"
    yield key_prefix
    if backend.redis_url:
        asyncio.run(forget_keys(backend.redis_url, key_prefix))


@pytest.fixture
def server(
    backend: Backend, engine: AsyncEngine, key_prefix: str, tmp_path: Path
) -> Iterator[LiveServer]:
    variables = {"RATE_LIMIT_DEFAULT": f"{LIMIT}/minute", "RATE_LIMIT_KEY_PREFIX": key_prefix}
    if backend.is_postgres:
        variables |= {"DATABASE_URL": backend.database_url, "REDIS_URL": backend.redis_url}
    # A connection cap above the flood: every request reaches the limiter.
    cap = str(REQUESTS + 100)
    with live_server(tmp_path, "--max-connections", cap, **variables) as server:
        yield server


async def test_a_flood_from_one_client_gets_at_most_the_limit(server: LiveServer) -> None:
    head = request_head("/api/v1/items", b"Connection: close")
    answers = await asyncio.gather(
        *(exchange(server.port, head, timeout=90) for _ in range(REQUESTS))
    )
    log = server.log.read_text()
    statuses = Counter(answer.status for answer in answers)
    assert set(statuses) <= {200, 429}, statuses
    assert 0 < statuses[200] <= LIMIT, statuses
    assert statuses[429] == REQUESTS - statuses[200]
    refused = next(answer for answer in answers if answer.status == 429)
    assert refused.problem()["code"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
    assert "Traceback" not in log
