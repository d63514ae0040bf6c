"""Uploads onto a real full disk (a 1 MiB tmpfs): a 507 problem that names no path,
nothing left behind, memory flat, and uploads work again once space is freed."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from storefront.core.config import Settings
from tests.files.conftest import upload
from tests.files.test_limits import MiB, traced
from tests.fixtures.storage import files_under
from tests.fixtures.tmpfs import fill, tmpfs
from tests.fixtures.uploads import PDF, headers, part_head, streamed

pytestmark = pytest.mark.anyio

KiB = 1024


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """The storage lives in `files/` of a 1 MiB filesystem; the filler sits next to it."""
    with tmpfs(tmp_path / "disk", size_bytes=MiB) as disk:
        yield disk


@pytest.fixture
def settings(settings: Settings, disk: Path) -> Settings:
    return settings.model_copy(update={"storage_dir": disk / "files"})


def assert_insufficient_storage(response: httpx.Response, disk: Path) -> None:
    assert response.status_code == 507, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "INSUFFICIENT_STORAGE"
    assert body["title"] == "Insufficient Storage"
    assert body["type"] == "/problems/insufficient-storage"
    assert body["request_id"] == response.headers["x-request-id"]
    assert str(disk) not in response.text
    assert ".partial" not in response.text


async def test_an_upload_bigger_than_the_free_space_is_a_507_and_leaves_nothing(
    client: httpx.AsyncClient, owner: dict[str, str], disk: Path, storage_dir: Path
) -> None:
    filler = fill(disk, leave_bytes=64 * KiB)
    content = PDF + b"\x01" * (300 * KiB)

    full = await upload(client, owner, content)

    assert_insufficient_storage(full, disk)
    assert files_under(storage_dir) == set()
    assert (await client.get("/api/v1/files", headers=owner)).json()["total"] == 0

    filler.unlink()
    stored = await upload(client, owner, content)
    assert stored.status_code == 201, stored.text
    assert stored.json()["size"] == len(content)
    (key,) = files_under(storage_dir)
    assert (storage_dir / key).read_bytes() == content


async def test_a_huge_upload_onto_a_full_disk_stops_early_with_flat_memory(
    client: httpx.AsyncClient, owner: dict[str, str], disk: Path, storage_dir: Path
) -> None:
    fill(disk)
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        # Small chunks, as a network delivers them: some are buffered when space runs out.
        async for part in streamed(part_head() + PDF, chunk_size=4 * KiB, total=8 * MiB):
            sent += len(part)
            yield part

    with traced() as allocated:
        response = await client.post("/api/v1/files", content=body(), headers=headers(owner))

    assert_insufficient_storage(response, disk)
    assert sent < MiB  # refused at the first write that found no space
    assert allocated[0] < 5 * MiB
    assert files_under(storage_dir) == set()
