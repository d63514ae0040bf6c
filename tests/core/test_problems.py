"""Every error path answers with RFC 9457 problem details."""

import logging

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

pytestmark = pytest.mark.anyio

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "code", "request_id"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body.keys() >= PROBLEM_FIELDS
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing?token=abc")
    body = assert_problem(response, 404, "NOT_FOUND")
    assert body["instance"] == "/no/such/thing"
    assert body["type"] == "/problems/not-found"


async def test_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health/live")
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"]


async def test_app_error_keeps_its_code_and_detail(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/_probe/conflict"), 409, "CONFLICT")
    assert body["detail"] == "The probe conflicts."


async def test_http_exception_becomes_a_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/_probe/teapot"), 418, "HTTP_418")
    assert body["detail"] == "Short and stout."


async def test_validation_error_lists_each_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/_probe/echo", json={"name": "", "count": 0, "extra": 1})
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {tuple(error["loc"]) for error in errors} == {("body", "name"), ("body", "count")}
    assert all(error.keys() == {"loc", "msg", "type"} for error in errors)


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_probe/echo", content=b'{"name": "x",', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert body["errors"][0]["type"] == "json_invalid"  # type: ignore[index]


async def test_wrong_content_type_is_a_415_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_probe/echo", content=b'{"name": "x", "count": 1}', headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_missing_body_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/_probe/echo")
    assert_problem(response, 422, "VALIDATION_ERROR")


async def test_bad_query_parameter_is_a_422_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/_probe/hold?seconds=99"), 422, "VALIDATION_ERROR")
    assert body["errors"][0]["loc"] == ["query", "seconds"]  # type: ignore[index]


async def test_unexpected_error_is_a_generic_500(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="storefront.errors"):
        response = await client.get("/_probe/boom", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(response, 500, "INTERNAL_ERROR")
    assert body["detail"] == "The server could not complete the request."
    for leak in ("secret", "/etc/", "SELECT", "Traceback", "RuntimeError"):
        assert leak not in response.text
    # The headers of the outer middleware still apply to the 500.
    assert response.headers["x-request-id"] == "boom-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-process-time" in response.headers
    [record] = [r for r in caplog.records if r.name == "storefront.errors"]
    assert record.exc_info is not None
    assert "secret at /etc/storefront/key" in str(record.exc_info[1])


async def test_unregistered_status_still_renders(app: FastAPI, client: httpx.AsyncClient) -> None:
    @app.get("/_probe/unusual")
    async def probe_unusual() -> None:
        raise HTTPException(status_code=499)

    body = assert_problem(await client.get("/_probe/unusual"), 499, "HTTP_499")
    assert body["title"] == "Error"


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError("10.0.0.7:6379"),
        TimeoutError("x"),
        RedisConnectionError("Error 111 connecting to 10.0.0.7:6379"),
        RedisTimeoutError("Timeout reading from 10.0.0.7:6379"),
    ],
)
async def test_unreachable_backing_service_is_a_503(
    app: FastAPI, client: httpx.AsyncClient, error: Exception
) -> None:
    @app.get("/_probe/unreachable")
    async def probe_unreachable() -> None:
        raise error

    response = await client.get("/_probe/unreachable")
    body = assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert response.headers["retry-after"] == "1"
    assert "10.0.0.7" not in str(body)


async def test_a_value_the_database_cannot_store_is_a_422_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    # PostgreSQL refuses NUL in text; SQLite stores it. Neither may answer 500.
    response = await client.post(
        "/api/v1/auth/token", data={"username": "a\x00b@example.com", "password": "x" * 10}
    )
    assert response.status_code in (401, 422)
    assert response.headers["content-type"] == "application/problem+json"
    search = await client.get("/api/v1/search", params={"q": "mug\x00"})
    assert search.status_code in (200, 422)
