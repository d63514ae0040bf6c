"""The upload cap holds while the body streams: 413 as soon as it is passed, memory flat
whatever the size, and an upload that ends early or is abandoned leaves nothing."""

import gc
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.main import create_app
from tests.conftest import running_client
from tests.files.conftest import upload
from tests.fixtures.storage import partials, stored_keys
from tests.fixtures.uploads import CONTENT_TYPE, PDF, TAIL, form, headers, part_head, streamed

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


def rss_bytes() -> int:
    """Resident memory now (not the high-water mark, which earlier tests may have set)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def test_200_mb_against_a_10_mb_cap_is_refused_early_with_flat_memory(
    client: httpx.AsyncClient, owner: dict[str, str], settings: Settings, storage_dir: Path
) -> None:
    assert settings.upload_max_bytes == 10 * MiB
    # Warm up the code paths (imports, caches) so they do not count as growth.
    assert (await upload(client, owner)).status_code == 201
    gc.collect()
    baseline = rss_bytes()
    peak = baseline
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal peak, sent
        async for part in streamed(
            part_head(filename=b"huge.pdf") + PDF, chunk_size=MiB, total=200 * MiB
        ):
            peak = max(peak, rss_bytes())
            sent += len(part)
            yield part

    with traced() as allocated:
        response = await client.post("/api/v1/files", content=body(), headers=headers(owner))
    peak = max(peak, rss_bytes())

    assert response.status_code == 413, response.text
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    # The upload's own cap, on the file's bytes (before the body cap's framing slack).
    assert response.json()["detail"] == "The file is larger than 10485760 bytes."
    # Refused as the cap was passed: the rest of the 200 MB was never even read.
    assert sent < 12 * MiB
    growth = peak - baseline
    print(f"\nRSS growth, 200 MB upload against a 10 MB cap: {growth / MiB:.1f} MiB")
    print(f"Peak of Python allocations meanwhile: {allocated[0] / MiB:.1f} MiB")
    assert growth < 20 * MiB
    # RSS alone could hide a buffer in memory the allocator had free already.
    assert allocated[0] < 5 * MiB
    assert len(stored_keys(storage_dir)) == 1  # the warm-up file only
    assert partials(storage_dir) == []


async def test_an_upload_at_the_cap_is_streamed_not_buffered(
    client: httpx.AsyncClient, owner: dict[str, str], storage_dir: Path
) -> None:
    content = PDF + b"\x01" * (10 * MiB - len(PDF))

    async def body() -> AsyncIterator[bytes]:
        yield part_head()
        for start in range(0, len(content), MiB):
            yield content[start : start + MiB]
        yield TAIL

    with traced() as allocated:
        response = await client.post("/api/v1/files", content=body(), headers=headers(owner))

    assert response.status_code == 201, response.text
    assert response.json()["size"] == 10 * MiB
    assert allocated[0] < 5 * MiB
    (key,) = stored_keys(storage_dir)
    assert (storage_dir / key).read_bytes() == content


@contextmanager
def traced() -> Iterator[list[int]]:
    """The peak of Python allocations inside the block, in bytes."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
        peak[0] = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
async def capped_client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"upload_max_bytes": 1000}), database=database)
    async with running_client(app) as client:
        yield client


@pytest.mark.parametrize(("size", "status"), [(1000, 201), (1001, 413)])
async def test_the_cap_counts_the_file_bytes_exactly(
    capped_client: httpx.AsyncClient,
    owner: dict[str, str],
    storage_dir: Path,
    size: int,
    status: int,
) -> None:
    content = PDF + b"x" * (size - len(PDF))

    response = await capped_client.post(
        "/api/v1/files", content=form(content), headers=headers(owner)
    )

    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["size"] == 1000
    else:
        assert response.json()["detail"] == "The file is larger than 1000 bytes."
        assert stored_keys(storage_dir) == set()
    assert partials(storage_dir) == []


async def test_a_declared_oversized_body_is_refused_before_reading(
    capped_client: httpx.AsyncClient, owner: dict[str, str], storage_dir: Path
) -> None:
    content = form(PDF + b"x" * 200_000)

    response = await capped_client.post(
        "/api/v1/files",
        content=content,
        headers={**headers(owner), "Content-Length": str(len(content))},
    )

    assert response.status_code == 413
    assert stored_keys(storage_dir) == set()


async def call_with_disconnect(
    app_state: dict[str, Any], app: FastAPI, auth: dict[str, str], parts: list[bytes]
) -> list[dict[str, Any]]:
    """Send `parts` of a body as a server would, then report the client gone."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": True} for part in parts
    ]
    messages.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw_headers = [(b"content-type", CONTENT_TYPE.encode())] + [
        (name.lower().encode(), value.encode()) for name, value in auth.items()
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/files",
        "raw_path": b"/api/v1/files",
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "state": dict(app_state),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    return sent


async def test_an_upload_abandoned_mid_body_leaves_nothing(
    app: FastAPI,
    app_state: dict[str, Any],
    owner: dict[str, str],
    storage_dir: Path,
) -> None:
    parts = [part_head(filename=b"a.pdf") + PDF, b"y" * 100_000, b"z" * 100_000]

    sent = await call_with_disconnect(app_state, app, owner, parts)

    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 400
    assert b"UPLOAD_INTERRUPTED" in b"".join(m.get("body", b"") for m in sent)
    assert stored_keys(storage_dir) == set()
    assert partials(storage_dir) == []
