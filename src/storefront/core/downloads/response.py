"""Stored objects streamed from disk: conditional GET (ETag), single ranges, chunks read
in a worker thread so a slow disk never stalls the event loop."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from storefront.core.downloads.ranges import ByteRange, requested_range
from storefront.core.downloads.validators import none_match, quoted
from storefront.core.errors import NotFound

CHUNK_BYTES = 64 * 1024
HEAD_BYTES = 16


class ObjectMissing(NotFound):
    default_detail = "The file's content is no longer available."


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    head: bytes  # the first bytes: enough to sniff the type


def inspect(path: Path) -> ObjectInfo:
    with path.open("rb") as data:
        return ObjectInfo(size=os.fstat(data.fileno()).st_size, head=data.read(HEAD_BYTES))


async def inspect_object(path: Path) -> ObjectInfo:
    try:
        return await anyio.to_thread.run_sync(inspect, path)
    except FileNotFoundError:
        raise ObjectMissing() from None


class FileWindowResponse(Response):
    """Bytes [start, end) of a file. The file is opened before the status line is sent,
    so a vanished file is still an error response rather than a truncated body."""

    def __init__(
        self,
        path: Path,
        window: ByteRange,
        *,
        status_code: int,
        headers: Mapping[str, str],
        media_type: str,
    ) -> None:
        self.path = path
        self.window = window
        super().__init__(
            None,
            status_code=status_code,
            headers={**headers, "Content-Length": str(window.length)},
            media_type=media_type,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        data = await anyio.open_file(self.path, "rb")
        try:
            if _send_fails_after_disconnect(scope):
                await self._stream(data, send)
                return
            # Older servers drop sends to a gone client silently: without listening for
            # the disconnect, the whole file would still be read for nobody.
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    await self._stream(data, send)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await data.aclose()

    async def _stream(self, data: anyio.AsyncFile[bytes], send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        await data.seek(self.window.start)
        remaining = self.window.length
        while remaining:
            chunk = await data.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                raise RuntimeError("a stored object is shorter than its recorded size")
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        if not self.window.length:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _send_fails_after_disconnect(scope: Scope) -> bool:
    version = scope.get("asgi", {}).get("spec_version", "2.0")
    return tuple(int(part) for part in version.split(".")) >= (2, 4)


async def object_response(
    request: Request,
    path: Path,
    *,
    etag: str,
    media_type: str,
    headers: Mapping[str, str],
    info: ObjectInfo | None = None,
) -> Response:
    """200, 206 or 304 for a stored object; raises RangeNotSatisfiable (416) or
    ObjectMissing (404). `etag` must change whenever the content does."""
    size = (info or await inspect_object(path)).size
    validators = {"ETag": quoted(etag), "Accept-Ranges": "bytes", **headers}
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=validators)
    window = requested_range(
        request.headers.get("range"), request.headers.get("if-range"), size=size, etag=etag
    )
    if window is None:
        return FileWindowResponse(
            path, ByteRange(0, size), status_code=200, headers=validators, media_type=media_type
        )
    return FileWindowResponse(
        path,
        window,
        status_code=206,
        headers={**validators, "Content-Range": window.content_range(size)},
        media_type=media_type,
    )
