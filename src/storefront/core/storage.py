"""Where files live: objects under generated keys, never under a name a client chose.

An object is written to a temporary file in the same directory tree and renamed into
place only when complete, so a failed or aborted write leaves nothing behind, and a reader
never sees half an object. Keys are `<2 hex>/<32 hex>`: validated before they become a
path, so no key can point outside the root. An object is never rewritten: a new version
is a new key, which makes a key a strong validator of its content.
"""

import hashlib
import os
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, BinaryIO

import anyio
from fastapi import Depends
from starlette.requests import HTTPConnection

from storefront.core.config import Settings

KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{32}$")
TEMPORARY_DIR = ".partial"
COPY_CHUNK_BYTES = 1 << 20


class ObjectTooLarge(Exception):
    """The stream passed `max_bytes`; nothing was kept."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


def new_key() -> str:
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token}"


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        if not KEY.fullmatch(key):
            raise ValueError("not a storage key")
        return self.root / key

    def _temporary(self) -> tuple[BinaryIO, Path]:
        directory = self.root / TEMPORARY_DIR
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=directory)
        try:
            return os.fdopen(handle, "wb"), Path(name)
        except BaseException:
            os.close(handle)
            Path(name).unlink(missing_ok=True)
            raise

    def _commit(self, output: BinaryIO, temporary: Path) -> str:
        # Durable before it becomes visible: after a crash a key names a whole object.
        output.flush()
        os.fsync(output.fileno())
        output.close()
        key = new_key()
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)
        return key

    async def _discard(self, output: BinaryIO, temporary: Path) -> None:
        def discard() -> None:
            output.close()
            temporary.unlink(missing_ok=True)

        # Cleanup must finish even when the write was cancelled (a client went away).
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(discard)

    async def save(
        self, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> StoredObject:
        """Stream `chunks` into a new object, hashing on the way; raise ObjectTooLarge as
        soon as more than `max_bytes` arrived. Any error leaves nothing behind."""
        output, temporary = await anyio.to_thread.run_sync(self._temporary)
        digest = hashlib.sha256()
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ObjectTooLarge()
                digest.update(chunk)
                await anyio.to_thread.run_sync(output.write, chunk)
            key = await anyio.to_thread.run_sync(self._commit, output, temporary)
        except BaseException:
            await self._discard(output, temporary)
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    async def save_file(self, source: Path) -> StoredObject:
        """Take in a finished local file (a rendered report, a resized image)."""

        def copy_in() -> StoredObject:
            output, temporary = self._temporary()
            digest = hashlib.sha256()
            size = 0
            try:
                with source.open("rb") as data:
                    while chunk := data.read(COPY_CHUNK_BYTES):
                        digest.update(chunk)
                        output.write(chunk)
                        size += len(chunk)
                key = self._commit(output, temporary)
            except BaseException:
                output.close()
                temporary.unlink(missing_ok=True)
                raise
            return StoredObject(key=key, size=size, sha256=digest.hexdigest())

        return await anyio.to_thread.run_sync(copy_in)

    async def exists(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self.path(key).is_file)

    async def delete(self, key: str) -> None:
        """Idempotent: deleting a missing object is not an error."""
        await anyio.to_thread.run_sync(lambda: self.path(key).unlink(missing_ok=True))

    async def purge_partials(self, *, older_than: timedelta) -> int:
        """Remove temporary files a killed process left behind; returns how many."""

        def purge() -> int:
            directory = self.root / TEMPORARY_DIR
            cutoff = time.time() - older_than.total_seconds()
            removed = 0
            for entry in directory.iterdir() if directory.is_dir() else ():
                try:
                    if entry.is_file() and entry.stat().st_mtime < cutoff:
                        entry.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue  # finished or removed meanwhile
            return removed

        return await anyio.to_thread.run_sync(purge)


def create_storage(settings: Settings) -> LocalStorage:
    return LocalStorage(settings.storage_dir)


async def get_storage(connection: HTTPConnection) -> LocalStorage:
    return create_storage(connection.state.settings)


Storage = Annotated[LocalStorage, Depends(get_storage)]
