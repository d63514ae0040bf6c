"""Where files live: objects under generated keys, never under a name a client chose.

An object is written to a partial file under `.partial/` and renamed into place only when
complete, so a failed or aborted write leaves nothing behind, and a reader never sees half
an object. Keys are `<2 hex>/<32 hex>`: validated before they become a path, so no key can
point outside the root. An object is never rewritten: a new version is a new key, which
makes a key a strong validator of its content.

A partial file's descriptor holds an exclusive `flock` while its writer lives; the kernel
drops it when the process dies, however it dies, so the purge tells a file still being
written from one a killed process left. A full disk (or quota) is `StorageFull`: a 507 for
a client, a transient failure for a job, and never a partial file left behind.
"""

import errno
import fcntl
import hashlib
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, BinaryIO

import anyio
from fastapi import Depends
from starlette.requests import HTTPConnection

from storefront.core.config import Settings
from storefront.core.errors import InsufficientStorage

KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{32}$")
TEMPORARY_DIR = ".partial"
COPY_CHUNK_BYTES = 1 << 20
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})

logger = logging.getLogger("storefront.storage")


class ObjectTooLarge(Exception):
    """The stream passed `max_bytes`; nothing was kept."""


class StorageFull(InsufficientStorage):
    """No space (or quota) left for a write; nothing of it was kept. Space can come back,
    so a job retries it later."""

    default_detail = "The server's storage is full; retry later."


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


@dataclass
class Partial:
    """A file being written under `.partial/`, locked by `output` until stored or removed."""

    path: Path
    output: BinaryIO
    stored_key: str | None = None


def new_key() -> str:
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token}"


@contextmanager
def _translate_full_disk() -> Iterator[None]:
    try:
        yield
    except OSError as error:
        if error.errno in FULL_ERRNOS:
            logger.warning("storage full: %s", error.strerror)
            # The OSError names the file: kept as the cause for the log, never shown.
            raise StorageFull() from error
        raise


def _lock(output: BinaryIO) -> None:
    # A filesystem without locks gets none: the purge then goes by age alone.
    with suppress(OSError):
        fcntl.flock(output.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def partials_dir(self) -> Path:
        return self.root / TEMPORARY_DIR

    def path(self, key: str) -> Path:
        if not KEY.fullmatch(key):
            raise ValueError("not a storage key")
        return self.root / key

    def _open_partial(self, suffix: str) -> Partial:
        with _translate_full_disk():
            self.partials_dir.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=self.partials_dir, suffix=suffix)
        try:
            output = os.fdopen(handle, "wb")
        except BaseException:
            os.close(handle)
            Path(name).unlink(missing_ok=True)
            raise
        _lock(output)
        return Partial(Path(name), output)

    def _commit(self, partial: Partial) -> str:
        output = partial.output
        # Durable before it becomes visible: after a crash a key names a whole object.
        output.flush()
        os.fsync(output.fileno())
        key = new_key()
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Renamed while still locked: the purge never sees it unlocked under `.partial/`.
        os.replace(partial.path, target)
        partial.stored_key = key
        output.close()
        return key

    def _discard(self, partial: Partial, *, failed: bool) -> None:
        if partial.stored_key is None:
            partial.path.unlink(missing_ok=True)
        elif failed:
            self.path(partial.stored_key).unlink(missing_ok=True)
        # Closing flushes what is buffered, which fails again on a full disk: the
        # descriptor is closed all the same, and the file is gone already.
        with suppress(OSError):
            partial.output.close()

    @asynccontextmanager
    async def partial_file(self, *, suffix: str = "") -> AsyncIterator[Partial]:
        """A fresh, empty partial file, for a producer that writes by path (a report
        renderer); `store` makes it an object. When the block ends, whatever was not
        stored is removed, and so is what was, if the block raised. A full disk inside the
        block is StorageFull."""
        partial = await anyio.to_thread.run_sync(self._open_partial, suffix)
        failed = True
        try:
            with _translate_full_disk():
                yield partial
            failed = False
        finally:
            # Cleanup must finish even when the write was cancelled (a client went away).
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: self._discard(partial, failed=failed))

    async def store(self, partial: Partial) -> StoredObject:
        """Hash what a producer wrote into `partial` and rename it into place."""

        def hash_and_commit() -> StoredObject:
            digest = hashlib.sha256()
            size = 0
            with partial.path.open("rb") as data:
                while chunk := data.read(COPY_CHUNK_BYTES):
                    digest.update(chunk)
                    size += len(chunk)
            return StoredObject(key=self._commit(partial), size=size, sha256=digest.hexdigest())

        with _translate_full_disk():
            return await anyio.to_thread.run_sync(hash_and_commit)

    async def save(
        self, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> StoredObject:
        """Stream `chunks` into a new object, hashing on the way; raise ObjectTooLarge as
        soon as more than `max_bytes` arrived. Any error leaves nothing behind."""
        digest = hashlib.sha256()
        size = 0
        async with self.partial_file() as partial:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ObjectTooLarge()
                digest.update(chunk)
                await anyio.to_thread.run_sync(partial.output.write, chunk)
            key = await anyio.to_thread.run_sync(self._commit, partial)
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    async def exists(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self.path(key).is_file)

    async def delete(self, key: str) -> None:
        """Idempotent: deleting a missing object is not an error."""
        await anyio.to_thread.run_sync(lambda: self.path(key).unlink(missing_ok=True))

    def probe(self) -> int:
        """Create and remove a file where objects are written, then return the bytes still
        free there (for an unprivileged process). Raises OSError if it cannot write."""
        partial = self._open_partial(".probe")
        self._discard(partial, failed=True)
        usage = os.statvfs(self.partials_dir)
        return usage.f_bavail * usage.f_frsize

    async def purge_partials(self, *, abandoned_after: timedelta, older_than: timedelta) -> int:
        """Remove partial files killed processes left; returns how many. One that nobody
        holds goes once `abandoned_after` old (younger, its writer may not have locked it
        yet); on a filesystem without locks, any goes once `older_than` old. One still
        held stays: removing it would free nothing while its writer keeps it open."""

        def purge() -> int:
            now = time.time()
            directory = self.partials_dir
            removed = 0
            for entry in directory.iterdir() if directory.is_dir() else ():
                with suppress(FileNotFoundError):  # finished or removed meanwhile
                    age = now - entry.stat().st_mtime
                    if age > abandoned_after.total_seconds() and _remove_if_abandoned(
                        entry, lockless_after=older_than.total_seconds(), age=age
                    ):
                        removed += 1
            return removed

        return await anyio.to_thread.run_sync(purge)


def _remove_if_abandoned(entry: Path, *, lockless_after: float, age: float) -> bool:
    if not entry.is_file():
        return False
    with entry.open("rb") as held:
        try:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its writer is alive
        except OSError:
            if age <= lockless_after:
                return False
        # Removed while locked by us: no writer can be holding it.
        entry.unlink()
        return True


def create_storage(settings: Settings) -> LocalStorage:
    return LocalStorage(settings.storage_dir)


async def get_storage(connection: HTTPConnection) -> LocalStorage:
    return create_storage(connection.state.settings)


Storage = Annotated[LocalStorage, Depends(get_storage)]
