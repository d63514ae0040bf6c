"""Readiness reports storage: 503 while STORAGE_DIR is (nearly) full or cannot be
written, on a real tmpfs, and 200 again by itself once it can take an upload."""

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from storefront.core.config import Settings
from storefront.core.storage import LocalStorage
from storefront.health import service
from storefront.main import create_app
from tests.conftest import running_client
from tests.fixtures.tmpfs import fill, tmpfs

pytestmark = pytest.mark.anyio

KiB = 1024
UPLOAD_MAX_BYTES = 256 * KiB


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", size_bytes=1024 * KiB) as disk:
        yield disk


@pytest.fixture
def settings(settings: Settings, disk: Path) -> Settings:
    return settings.model_copy(
        update={"storage_dir": disk / "files", "upload_max_bytes": UPLOAD_MAX_BYTES}
    )


def checks(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert body["status"] == ("healthy" if response.status_code == 200 else "degraded")
    assert response.headers["cache-control"] == "no-store"
    return body["checks"]  # type: ignore[no-any-return]


async def test_storage_with_less_free_space_than_one_upload_is_not_ready(
    client: httpx.AsyncClient, disk: Path
) -> None:
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert checks(ready)["storage"] == "ok"

    filler = fill(disk, leave_bytes=UPLOAD_MAX_BYTES - 16 * KiB)
    full = await client.get("/health/ready")
    assert full.status_code == 503
    assert checks(full) == {"database": "ok", "redis": checks(ready)["redis"], "storage": "error"}
    assert (await client.get("/health")).status_code == 503
    assert (await client.get("/health/live")).status_code == 200

    filler.unlink()
    back = await client.get("/health/ready")
    assert back.status_code == 200, back.text
    assert checks(back)["storage"] == "ok"


async def test_storage_that_cannot_be_written_is_not_ready(
    client: httpx.AsyncClient, disk: Path
) -> None:
    assert (await client.get("/health/ready")).status_code == 200
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    try:
        read_only = await client.get("/health/ready")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)

    assert read_only.status_code == 503
    assert checks(read_only)["storage"] == "error"
    assert (await client.get("/health/ready")).status_code == 200


@pytest.fixture
def hung_storage(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Storage probes that block (a hung network filesystem) until the test ends; the
    list counts the probes that got as far as the filesystem."""
    release = threading.Event()
    probes: list[int] = []

    def hangs(storage: LocalStorage) -> int:
        probes.append(1)
        release.wait(30)
        return 1 << 40

    monkeypatch.setattr(LocalStorage, "probe", hangs)
    yield probes
    release.set()
    # The abandoned probe's thread lets go before the next test probes.
    assert service._STORAGE_PROBE.acquire(timeout=5)
    service._STORAGE_PROBE.release()


async def test_a_hung_storage_probe_times_out_and_does_not_pile_up(
    settings: Settings, hung_storage: list[int]
) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"health_check_timeout_seconds": 0.5}))
    async with running_client(app) as client:
        for _ in range(3):
            started = time.monotonic()
            response = await client.get("/health/ready")
            assert time.monotonic() - started < 1.5
            assert response.status_code == 503
            assert checks(response)["storage"] == "error"

    assert hung_storage == [1]  # the later probes did not queue a thread behind it
