"""Local storage: whole objects under generated keys, or nothing at all."""

import errno
import fcntl
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from storefront.core.storage import TEMPORARY_DIR, LocalStorage, ObjectTooLarge, StorageFull
from tests.fixtures.storage import files_under, partials, stored_keys
from tests.fixtures.tmpfs import fill, free_bytes, tmpfs

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


async def test_a_stored_partial_file_becomes_an_object(storage: LocalStorage, root: Path) -> None:
    async with storage.partial_file(suffix=".csv") as partial:
        assert partial.path.parent == root / TEMPORARY_DIR
        partial.path.write_bytes(b"a,b\n" * 100_000)  # as a renderer writes it, by path
        stored = await storage.store(partial)

    content = b"a,b\n" * 100_000
    assert storage.path(stored.key).read_bytes() == content
    assert stored.size == len(content)
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert stored_keys(root) == {stored.key}
    assert partials(root) == []


async def test_a_partial_file_not_stored_is_removed(storage: LocalStorage, root: Path) -> None:
    async with storage.partial_file() as partial:
        partial.path.write_bytes(b"half a report")

    assert files_under(root) == set()


async def test_a_block_that_fails_after_storing_keeps_nothing(
    storage: LocalStorage, root: Path
) -> None:
    with pytest.raises(RuntimeError):
        async with storage.partial_file() as partial:
            partial.path.write_bytes(b"a whole report")
            await storage.store(partial)
            raise RuntimeError("recording it failed")

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


def age(path: Path, *, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_purge_removes_partials_nobody_holds_once_old_enough(
    storage: LocalStorage, root: Path
) -> None:
    stored = await storage.save(chunks(b"kept"))
    directory = root / TEMPORARY_DIR
    abandoned, fresh = directory / "abandoned", directory / "fresh"
    abandoned.write_bytes(b"left by a killed process")
    fresh.write_bytes(b"its writer may not have locked it yet")
    age(abandoned, seconds=2 * 3600)

    removed = await storage.purge_partials(
        abandoned_after=timedelta(hours=1), older_than=timedelta(hours=24)
    )

    assert removed == 1
    assert partials(root) == [fresh]
    assert await storage.exists(stored.key)


async def test_purge_keeps_a_partial_its_writer_still_holds_however_old(
    storage: LocalStorage, root: Path
) -> None:
    async with storage.partial_file() as partial:
        partial.path.write_bytes(b"a slow build")
        age(partial.path, seconds=3 * 86_400)

        removed = await storage.purge_partials(
            abandoned_after=timedelta(0), older_than=timedelta(hours=24)
        )

        assert removed == 0
        assert partials(root) == [partial.path]
        stored = await storage.store(partial)

    assert storage.path(stored.key).read_bytes() == b"a slow build"


async def test_without_locks_the_purge_goes_by_age_alone(
    storage: LocalStorage, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    directory = root / TEMPORARY_DIR
    directory.mkdir(parents=True)
    for name, hours in (("day-old", 25), ("hour-old", 2)):
        (directory / name).write_bytes(b"whose writer cannot be told")
        age(directory / name, seconds=hours * 3600)

    removed = await storage.purge_partials(
        abandoned_after=timedelta(hours=1), older_than=timedelta(hours=24)
    )

    assert removed == 1
    assert [path.name for path in partials(root)] == ["hour-old"]


async def test_purge_partials_before_any_upload(storage: LocalStorage) -> None:
    assert (
        await storage.purge_partials(abandoned_after=timedelta(hours=1), older_than=timedelta(1))
        == 0
    )


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB filesystem; the storage lives in its `files/`, the filler next to it."""
    with tmpfs(tmp_path / "disk", size_bytes=1 << 20) as disk:
        yield disk


async def test_a_save_bigger_than_the_free_space_is_storage_full_and_keeps_nothing(
    disk: Path,
) -> None:
    storage = LocalStorage(disk / "files")
    filler = fill(disk, leave_bytes=64 << 10)
    # Small chunks, as a network delivers them: some are still buffered when space runs out.
    content = [bytes([n % 256]) * 1000 for n in range(256)]

    with pytest.raises(StorageFull) as raised:
        await storage.save(chunks(*content))

    assert str(disk) not in str(raised.value)
    assert files_under(disk / "files") == set()
    filler.unlink()
    stored = await storage.save(chunks(*content))
    assert storage.path(stored.key).read_bytes() == b"".join(content)


async def test_a_producer_filling_the_disk_gets_storage_full_and_keeps_nothing(
    disk: Path,
) -> None:
    storage = LocalStorage(disk / "files")
    fill(disk, leave_bytes=16 << 10)

    with pytest.raises(StorageFull):
        async with storage.partial_file(suffix=".pdf") as partial:
            partial.path.write_bytes(b"%PDF-" + b"x" * (256 << 10))

    assert files_under(disk / "files") == set()


async def test_the_probe_writes_and_reports_the_free_space(disk: Path) -> None:
    storage = LocalStorage(disk / "files")
    empty = storage.probe()
    fill(disk, leave_bytes=100 << 10)

    assert empty > 900 << 10
    assert storage.probe() == free_bytes(disk) <= 100 << 10
    assert files_under(disk / "files") == set()
