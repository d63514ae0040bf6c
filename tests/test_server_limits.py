"""Hostile clients against a real `storefront serve` (issue 12, finding 7): request heads
that are huge, unfinished, slow or malformed, and more connections than one process takes.
"""

import asyncio
import random
import time
from collections.abc import Iterator

import pytest

from storefront.core.http_protocol import (
    HEAD_TIMEOUT_SECONDS,
    MAX_HEAD_BYTES,
    MAX_HEADER_FIELDS,
)
from tests.fixtures.raw_http import (
    HOST,
    Answer,
    LiveServer,
    exchange,
    live_server,
    read_answer,
    request_head,
)

pytestmark = pytest.mark.anyio

MAX_CONNECTIONS = 100
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("server-limits")
    with live_server(directory, "--max-connections", str(MAX_CONNECTIONS)) as server:
        yield server
    log = server.log.read_text()
    assert "Traceback" not in log
    assert "[error" not in log
    assert "Unsupported upgrade request" not in log


async def served(port: int) -> Answer:
    answer = await exchange(port, request_head("/health/live"), timeout=2)
    assert answer.status == 200, answer
    return answer


def head_of_size(size: int) -> bytes:
    """A request head of exactly `size` bytes."""
    bare = request_head("/health/live", b"X-Padding: ")
    return request_head("/health/live", b"X-Padding: " + b"a" * (size - len(bare)))


async def test_a_head_up_to_the_limit_is_served_and_one_byte_more_is_a_431(
    server: LiveServer,
) -> None:
    assert (await exchange(server.port, head_of_size(MAX_HEAD_BYTES))).status == 200

    answer = await exchange(server.port, head_of_size(MAX_HEAD_BYTES + 1))

    assert answer.status == 431
    assert answer.closed
    problem = answer.problem()
    assert problem["code"] == "REQUEST_HEADERS_TOO_LARGE"
    assert problem["instance"] == "/health/live"
    assert problem["request_id"] == answer.headers["x-request-id"]
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_a_10_mb_header_is_refused_at_once(server: LiveServer) -> None:
    reader, writer = await asyncio.open_connection(HOST, server.port)
    started = time.monotonic()
    answering = asyncio.create_task(read_answer(reader))
    writer.write(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
    sent = 0
    try:
        while sent < 10 * MiB and not answering.done():
            writer.write(b"a" * 65_536)
            await asyncio.wait_for(writer.drain(), 2)
            sent += 65_536
    except ConnectionError:
        pass  # the server has closed: the answer came first
    answer = await asyncio.wait_for(answering, 2)
    writer.close()

    assert answer.status == 431
    assert answer.problem()["code"] == "REQUEST_HEADERS_TOO_LARGE"
    assert time.monotonic() - started < 2
    await served(server.port)


async def test_expect_100_continue_still_works(server: LiveServer) -> None:
    """on_header is uvicorn's, rewritten with a bound: its Expect handling is kept."""
    body = b'{"email": "nobody@example.com"}'
    reader, writer = await asyncio.open_connection(HOST, server.port)
    writer.write(
        b"POST /api/v1/auth/password-reset HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.write(body)
    answer = await asyncio.wait_for(read_answer(reader), 5)
    writer.close()

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert answer.status == 202


UPGRADE = (
    b"Connection: Upgrade",
    b"Upgrade: websocket",
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    b"Sec-WebSocket-Version: 13",
)


async def test_more_header_fields_than_allowed_are_a_431(server: LiveServer) -> None:
    # Host is one of them.
    fields = [b"X-Field-%d: 1" % n for n in range(MAX_HEADER_FIELDS - 1)]
    assert (await exchange(server.port, request_head("/health/live", *fields))).status == 200

    answer = await exchange(server.port, request_head("/health/live", *fields, b"X-One-More: 1"))

    assert answer.status == 431
    assert answer.closed
    assert "header fields" in answer.problem()["detail"]


async def test_websocket_upgrades_pass_within_the_limits_only(server: LiveServer) -> None:
    upgrade = await exchange(server.port, request_head("/api/v1/ws/lobby", *UPGRADE))
    fields = [b"X-Field-%d: 1" % n for n in range(MAX_HEADER_FIELDS)]
    refused = await exchange(server.port, request_head("/api/v1/ws/lobby", *UPGRADE, *fields))

    assert upgrade.status == 101
    assert refused.status == 431
    assert refused.closed


async def test_huge_unfinished_heads_leave_memory_flat(server: LiveServer) -> None:
    """The issue's four connections of unfinished 100 MB headers: 194 MB → 653 MB."""

    async def send_unfinished_header() -> int:
        _, writer = await asyncio.open_connection(HOST, server.port)
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        sent = 0
        try:
            while sent < 100 * MiB:
                writer.write(b"a" * MiB)
                await asyncio.wait_for(writer.drain(), 5)
                sent += MiB
        except ConnectionError:
            pass
        finally:
            writer.close()
        return sent

    before = server.rss_bytes()
    flood = asyncio.gather(*(send_unfinished_header() for _ in range(4)))
    peak = before
    while not flood.done():
        peak = max(peak, server.rss_bytes())
        await served(server.port)
        await asyncio.sleep(0.01)
    sent = await flood

    # Each was cut off after the head limit and a little lingering, not 100 MB later
    # (what the client could send includes what the sockets' buffers took).
    assert max(sent) < 40 * MiB, sent
    assert peak - before < 20 * MiB, (before, peak)


async def test_slow_and_silent_heads_are_closed_at_the_deadline(server: LiveServer) -> None:
    """The issue's 60 connections trickling a header at 1 byte/s, all held after 25 s."""

    async def trickle(*, first: bytes = b"") -> float:
        """Seconds from the first byte of a head, sent at 1 byte/s, to the server's close."""
        reader, writer = await asyncio.open_connection(HOST, server.port)
        if first:
            writer.write(first)
            assert (await read_answer(reader)).status == 200
            await asyncio.sleep(2)  # idle on keep-alive, then the next request starts
        started = time.monotonic()
        try:
            for byte in b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60:
                writer.write(bytes([byte]))
                await writer.drain()
                if await _closed_within(reader, 1.0):
                    break
        except ConnectionError:
            pass
        writer.close()
        return time.monotonic() - started

    async def silent() -> float:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection(HOST, server.port)
        await asyncio.wait_for(reader.read(), HEAD_TIMEOUT_SECONDS + 5)
        writer.close()
        return time.monotonic() - started

    slow = [trickle() for _ in range(60)]
    slow_on_keep_alive = trickle(first=request_head("/health/live"))
    everything = asyncio.gather(*slow, slow_on_keep_alive, silent(), silent())
    latencies = []
    while not everything.done():
        started = time.monotonic()
        await served(server.port)
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.5)
    closed_after = await everything

    assert all(
        HEAD_TIMEOUT_SECONDS - 1 < seconds < HEAD_TIMEOUT_SECONDS + 3 for seconds in closed_after
    )
    assert max(latencies) < 1, latencies


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), seconds) == b""
    except TimeoutError:
        return False


async def test_connections_beyond_the_cap_get_a_quick_503(server: LiveServer) -> None:
    held = [await asyncio.open_connection(HOST, server.port) for _ in range(MAX_CONNECTIONS)]
    try:
        for _, writer in held:  # the cap is the number served, not one fewer
            writer.write(request_head("/health/live"))
        assert {(await read_answer(reader)).status for reader, _ in held} == {200}

        started = time.monotonic()
        refused = await asyncio.gather(
            *(exchange(server.port, request_head("/health/live"), timeout=2) for _ in range(50))
        )

        assert time.monotonic() - started < 2
        assert {answer.status for answer in refused} == {503}
        assert all(answer.closed for answer in refused)
        assert {answer.headers["retry-after"] for answer in refused} == {"1"}
        assert refused[0].problem()["code"] == "SERVICE_UNAVAILABLE"
        # The admitted keep their place.
        reader, writer = held[0]
        writer.write(request_head("/health/live"))
        assert (await read_answer(reader)).status == 200
    finally:
        for _, writer in held:
            writer.close()
    await asyncio.sleep(0.2)
    await served(server.port)


async def test_a_flood_of_clients_gets_answers_not_timeouts(server: LiveServer) -> None:
    """At three times the cap, every answer is a 200 or a 503 problem, none later than 2 s
    (the benchmark's 1,024 connections timed out instead)."""

    async def client() -> list[Answer | None]:
        answers: list[Answer | None] = []
        for _ in range(3):
            try:
                answers.append(await exchange(server.port, request_head(), timeout=2))
            except TimeoutError:
                answers.append(None)
        return answers

    results = await asyncio.gather(*(client() for _ in range(3 * MAX_CONNECTIONS)))

    answers = [answer for result in results for answer in result]
    assert None not in answers
    statuses = [answer.status for answer in answers if answer is not None]
    assert set(statuses) == {200, 503}, sorted(set(statuses))
    assert statuses.count(200) >= MAX_CONNECTIONS, statuses.count(200)
    for answer in answers:
        if answer is not None and answer.status == 503:
            assert answer.problem()["code"] == "SERVICE_UNAVAILABLE"
            assert answer.headers["retry-after"] == "1"


MUTATIONS = (b"\x00", b"\xff", b"\xe2\x82\xac", b"\r", b"\n", b" ", b":", b"%", b"%ff", b"\x7f")
# Bytes an HTTP library would not send, where the app reads them.
ODD_HEADS = [
    request_head("/health/\xe2\x82\xac".encode("latin-1")),
    request_head("/api/v1/items/%E2%82%AC"),
    request_head("/api/v1/items/%ff%fe?q=%ff%00&page=%ff"),
    request_head("/api/v1/items?q=\xff\xfe"),
    request_head("/health/live", b"X-Request-ID: \xff\xfe"),
    request_head("/api/v1/users/me", b"Authorization: Bearer \xff\xfe"),
    request_head("/api/v1/users/me", b"X-API-Key: \xff\xfe\x01"),
    request_head("/api/v1/items/", b"Host: \xff\xfe"),
    request_head("/api/v1/items", b"X-Forwarded-For: \xff, \x00"),
    request_head("/health/live", b"Cookie: \xff=\xfe", b"Origin: \xff", b"Accept: \xff"),
    request_head("/api/v1/files/1/content", b"Range: bytes=\xff-"),
    b"POST /api/v1/users HTTP/1.1\r\nContent-Type: \xff\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /api/v1/orders HTTP/1.1\r\nIdempotency-Key: \xff\r\nContent-Length: 2\r\n\r\n{}",
    b"GET http://\xff/health/live HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"G\xffT / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /health/live HTTP/1.0\r\n\r\n",
    b"\r\n" * 40_000,
]


def mutated(head: bytes, rng: random.Random) -> bytes:
    data = bytearray(head[:-4])
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data))
        data[at : at + rng.randint(0, 2)] = rng.choice(MUTATIONS) * rng.choice((1, 1, 3, 2000))
    return bytes(data) + b"\r\n\r\n"


async def test_no_bytes_in_a_request_line_or_header_cause_a_500(server: LiveServer) -> None:
    rng = random.Random(12)
    heads = [
        request_head("/health/live"),
        request_head("/api/v1/items/1?q=shoes", b"Accept: application/json"),
        request_head("/api/v1/users/me", b"Authorization: Bearer abc"),
        request_head("/api/v1/items/", b"X-Request-ID: abc"),
    ]
    statuses = []
    for raw in [*ODD_HEADS, *(mutated(rng.choice(heads), rng) for _ in range(300))]:
        try:
            answer = await exchange(server.port, raw, timeout=5)
        except asyncio.IncompleteReadError:
            continue  # closed without an answer: allowed
        assert answer.status < 500, (raw, answer)
        if answer.status in (400, 431):
            answer.problem()
        statuses.append(answer.status)

    assert 400 in statuses
    assert len(set(statuses)) > 2, statuses
    assert server.alive()
    await served(server.port)
