"""Request ids, timing, security headers, CORS, the body cap and the access log."""

import io
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from storefront.core.config import Settings
from storefront.core.logging import configure_logging, flush_logs
from storefront.main import create_app
from tests.conftest import running_client
from tests.fixtures.probe import router as probe_router

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("incoming", ["abc-123", "a.b_c-D", "x" * 64])
async def test_valid_request_id_is_kept(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize("incoming", ["", "x" * 65, "has space", "semi;colon", "ünï"])
async def test_invalid_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get(
        "/health/live", headers=[(b"X-Request-ID", incoming.encode("utf-8"))]
    )
    replaced = response.headers["x-request-id"]
    assert replaced != incoming
    assert len(replaced) == 32 and replaced.isalnum()


async def test_every_response_carries_timing_and_security_headers(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/health/live", "/nope", "/_probe/conflict"):
        response = await client.get(path)
        assert float(response.headers["x-process-time"]) >= 0
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "server" not in response.headers or "uvicorn" not in response.headers["server"]


async def test_body_over_the_cap_is_refused_by_content_length(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    oversized = b"x" * (settings.request_max_body_bytes + 1)
    response = await client.post(
        "/_probe/echo", content=oversized, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_streamed_body_over_the_cap_is_cut_off(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    chunk = b" " * 65536
    chunks = settings.request_max_body_bytes // len(chunk) + 2

    async def body() -> AsyncIterator[bytes]:
        for _ in range(chunks):
            yield chunk

    response = await client.post(
        "/_probe/echo", content=body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://shop.example"]}))
    async with running_client(app) as client:
        yield client


async def test_cors_allows_only_configured_origins(cors_client: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = await cors_client.options(
        "/health/live", headers={"Origin": "https://shop.example", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    refused = await cors_client.options(
        "/health/live", headers={"Origin": "https://evil.example", **preflight}
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    simple = await cors_client.get("/health/live", headers={"Origin": "https://shop.example"})
    assert simple.headers["access-control-allow-origin"] == "https://shop.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize("cors", [True, False], ids=["under-cors", "outermost"])
async def test_the_error_boundary_answers_500_inside_every_header_layer(
    settings: Settings, cors: bool
) -> None:
    origins = ["https://shop.example"] if cors else []
    app = create_app(settings.model_copy(update={"cors_origins": origins}))
    app.include_router(probe_router)
    async with running_client(app) as client:
        response = await client.get(
            "/_probe/boom", headers={"Origin": "https://shop.example", "X-Request-ID": "b-1"}
        )
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert response.headers["x-request-id"] == "b-1"
    assert response.headers["x-frame-options"] == "DENY"
    assert ("access-control-allow-origin" in response.headers) is cors
    assert 'handler="/_probe/boom",method="GET",status="500"} 1.0' in metrics


async def test_an_error_after_the_response_started_is_not_answered_twice(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def broken_stream() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("midway")

    @app.get("/_probe/broken-stream")
    async def probe_broken_stream() -> StreamingResponse:
        return StreamingResponse(broken_stream(), media_type="text/plain")

    with pytest.raises(RuntimeError, match="midway"):
        await client.get("/_probe/broken-stream")


async def test_no_cors_headers_without_configured_origins(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"Origin": "https://shop.example"})
    assert "access-control-allow-origin" not in response.headers


@pytest.fixture
def log_output() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
async def json_log_client(
    settings: Settings, log_output: io.StringIO
) -> AsyncIterator[httpx.AsyncClient]:
    json_settings = settings.model_copy(update={"log_json": True})
    app = create_app(json_settings)
    # What the process's log stream would receive, from structlog and stdlib loggers alike.
    configure_logging(json_settings, stream=log_output)
    app.include_router(probe_router)
    async with running_client(app) as client:
        yield client
    configure_logging(settings)


def log_lines(captured: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


async def test_one_access_log_line_per_request_without_query_string(
    json_log_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    response = await json_log_client.get(
        "/health/live?token=hunter2", headers={"X-Request-ID": "log-1"}
    )
    assert response.status_code == 200
    captured = log_output.getvalue()
    assert "hunter2" not in captured
    [line] = [entry for entry in log_lines(captured) if entry.get("logger") == "storefront.access"]
    assert line["request_id"] == "log-1"
    assert line["route"] == "/health/live"
    assert line["path"] == "/health/live"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert isinstance(line["duration_ms"], float)
    assert line["client"] == "127.0.0.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(line["timestamp"]))


async def test_unhandled_error_is_logged_with_request_id_and_traceback(
    json_log_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    await json_log_client.get("/_probe/boom", headers={"X-Request-ID": "boom-2"})
    entries = log_lines(log_output.getvalue())
    [error] = [entry for entry in entries if entry.get("logger") == "storefront.errors"]
    assert error["request_id"] == "boom-2"
    assert error["level"] == "error"
    assert "RuntimeError" in json.dumps(error["exception"])
    [access] = [entry for entry in entries if entry.get("logger") == "storefront.access"]
    assert access["status"] == 500


@pytest.mark.parametrize("log_json", [True, False], ids=["json", "console"])
async def test_logged_tracebacks_hold_no_local_variables(
    settings: Settings, log_json: bool
) -> None:
    """A frame's locals hold the request's headers: the traceback must not print them."""
    output = io.StringIO()
    log_settings = settings.model_copy(update={"log_json": log_json})
    app = create_app(log_settings)
    configure_logging(log_settings, stream=output)
    app.include_router(probe_router)
    try:
        async with running_client(app) as client:
            response = await client.get(
                "/_probe/boom", headers={"Authorization": "Bearer sekrit-token-value"}
            )
    finally:
        configure_logging(settings)
    assert response.status_code == 500
    captured = output.getvalue()
    assert "RuntimeError" in captured and "probe_boom" in captured
    assert "sekrit" not in captured
    assert "'headers'" not in captured and "locals" not in captured


async def test_batched_json_log_lines_reach_a_binary_stream(settings: Settings) -> None:
    """The production path: orjson lines written in batches, all out by shutdown."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8")
    json_settings = settings.model_copy(update={"log_json": True})
    app = create_app(json_settings)
    configure_logging(json_settings, stream=stream)
    try:
        async with running_client(app) as client:
            for _ in range(3):
                await client.get("/health/live")
        lines = [json.loads(line) for line in raw.getvalue().splitlines()]
    finally:
        configure_logging(settings)
    access = [line for line in lines if line.get("logger") == "storefront.access"]
    assert len(access) == 3
    assert {line["route"] for line in access} == {"/health/live"}
    assert set(access[0]) == {
        "logger", "event", "method", "path", "route", "status", "duration_ms", "client",
        "user_id", "request_id", "level", "timestamp",
    }  # fmt: skip
    assert access[0]["event"] == "request" and access[0]["level"] == "info"


@pytest.mark.parametrize("log_json", [True, False], ids=["json", "console"])
async def test_access_lines_carry_structlog_context_and_follow_the_level(
    settings: Settings, log_json: bool
) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    app = create_app(settings)
    try:
        for level in ("INFO", "WARNING"):
            configure_logging(
                settings.model_copy(update={"log_json": log_json, "log_level": level}),
                stream=stream,
            )
            with structlog.contextvars.bound_contextvars(tenant="acme"):
                async with running_client(app) as client:
                    await client.get("/health/live", headers={"X-Request-ID": f"lvl-{level}"})
        flush_logs()
        captured = raw.getvalue().decode()
    finally:
        configure_logging(settings)
    [line] = [line for line in captured.splitlines() if "/health/live" in line]
    assert "lvl-INFO" in line and "acme" in line
    assert "lvl-WARNING" not in captured


async def test_multipart_bodies_are_capped_by_the_upload_limit(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    between = b"x" * (settings.request_max_body_bytes + 1)
    files = {"file": ("a.bin", between, "application/octet-stream")}
    allowed = await client.post("/_probe/echo", files=files)
    # Larger than a JSON body may be, within an upload: it reaches the route (422 there).
    assert allowed.status_code == 422
    too_big = b"x" * (settings.upload_max_bytes + 65 * 1024)
    refused = await client.post(
        "/_probe/echo", files={"file": ("b.bin", too_big, "application/octet-stream")}
    )
    assert refused.status_code == 413
    assert refused.json()["code"] == "PAYLOAD_TOO_LARGE"
