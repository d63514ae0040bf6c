"""Local storage: whole objects under generated keys, or nothing at all."""

import hashlib
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from storefront.core.storage import TEMPORARY_DIR, LocalStorage, ObjectTooLarge
from tests.fixtures.storage import files_under, partials, stored_keys

pytestmark = pytest.mark.anyio


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def storage(root: Path) -> LocalStorage:
    return LocalStorage(root)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_save_streams_chunks_into_one_object_with_its_size_and_hash(
    storage: LocalStorage, root: Path
) -> None:
    stored = await storage.save(chunks(b"hello ", b"", b"world"))

    assert stored.size == 11
    assert stored.sha256 == hashlib.sha256(b"hello world").hexdigest()
    assert storage.path(stored.key).read_bytes() == b"hello world"
    assert stored_keys(root) == {stored.key}
    assert partials(root) == []


async def test_every_object_gets_a_new_key(storage: LocalStorage) -> None:
    first = await storage.save(chunks(b"same"))
    second = await storage.save(chunks(b"same"))

    assert first.key != second.key
    assert first.sha256 == second.sha256


async def test_an_object_of_exactly_max_bytes_is_kept(storage: LocalStorage) -> None:
    stored = await storage.save(chunks(b"x" * 10, b"y" * 6), max_bytes=16)

    assert stored.size == 16


async def test_passing_max_bytes_stops_at_once_and_keeps_nothing(
    storage: LocalStorage, root: Path
) -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"x" * 10

    with pytest.raises(ObjectTooLarge):
        await storage.save(endless(), max_bytes=25)

    assert pulled == 3  # the chunk that crossed the cap was the last one read
    assert files_under(root) == set()


async def test_a_failing_stream_keeps_nothing(storage: LocalStorage, root: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial data"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.save(broken())

    assert files_under(root) == set()


async def test_a_cancelled_save_keeps_nothing(storage: LocalStorage, root: Path) -> None:
    first_chunk_written = anyio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield b"some bytes"
        first_chunk_written.set()
        await anyio.sleep_forever()
        yield b"never"

    async with anyio.create_task_group() as group:
        group.start_soon(storage.save, stalls())
        await first_chunk_written.wait()
        assert len(partials(root)) == 1  # the object was being written
        group.cancel_scope.cancel()

    assert files_under(root) == set()


async def test_save_file_copies_a_finished_file_in(
    storage: LocalStorage, root: Path, tmp_path: Path
) -> None:
    source = tmp_path / "report.csv"
    source.write_bytes(b"a,b\n" * 100_000)

    stored = await storage.save_file(source)

    assert storage.path(stored.key).read_bytes() == source.read_bytes()
    assert stored.size == source.stat().st_size
    assert stored.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert source.exists()
    assert stored_keys(root) == {stored.key}


async def test_save_file_of_a_missing_file_keeps_nothing(
    storage: LocalStorage, root: Path, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        await storage.save_file(tmp_path / "missing")

    assert files_under(root) == set()


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "ab/../../../etc/passwd",
        "/etc/passwd",
        "ab/" + "0" * 31,
        "ab/" + "0" * 33,
        "AB/" + "0" * 32,
        "ab\\" + "0" * 32,
        "ab/" + "0" * 32 + "\n",
        "ab/" + "0" * 31 + "\x00",
        "",
    ],
)
def test_path_refuses_anything_but_a_generated_key(storage: LocalStorage, key: str) -> None:
    with pytest.raises(ValueError, match="not a storage key"):
        storage.path(key)


def test_path_of_a_key_stays_inside_the_root(storage: LocalStorage, root: Path) -> None:
    key = "0f/" + "0123456789abcdef" * 2

    assert storage.path(key) == root.resolve() / "0f" / ("0123456789abcdef" * 2)


async def test_exists_and_an_idempotent_delete(storage: LocalStorage, root: Path) -> None:
    stored = await storage.save(chunks(b"bytes"))
    assert await storage.exists(stored.key)

    await storage.delete(stored.key)
    await storage.delete(stored.key)

    assert not await storage.exists(stored.key)
    assert stored_keys(root) == set()


async def test_purge_partials_removes_only_stale_temporary_files(
    storage: LocalStorage, root: Path
) -> None:
    stored = await storage.save(chunks(b"kept"))
    directory = root / TEMPORARY_DIR
    stale, fresh = directory / "stale", directory / "fresh"
    stale.write_bytes(b"left by a killed process")
    fresh.write_bytes(b"an upload in progress")
    day_ago = time.time() - 86_400
    os.utime(stale, (day_ago, day_ago))

    assert await storage.purge_partials(older_than=timedelta(hours=1)) == 1

    assert partials(root) == [fresh]
    assert await storage.exists(stored.key)


async def test_purge_partials_before_any_upload(storage: LocalStorage) -> None:
    assert await storage.purge_partials(older_than=timedelta(hours=1)) == 0
