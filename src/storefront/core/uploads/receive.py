"""Receiving one uploaded file: streamed to storage, capped, sniffed and hashed on the
way, so memory stays flat whatever a client sends."""

from collections.abc import AsyncIterator, Collection
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass

import anyio
from python_multipart.multipart import parse_options_header
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect, Request

from storefront.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from storefront.core.storage import LocalStorage, ObjectTooLarge
from storefront.core.uploads.filenames import display_name
from storefront.core.uploads.multipart import MalformedUpload, MultipartFile
from storefront.core.uploads.sniffing import EXTENSIONS, Sniffer

FILE_FIELD = "file"


class NotMultipart(UnsupportedMediaType):
    default_detail = "Send the file as multipart/form-data, in a field named `file`."


class UploadTooLarge(PayloadTooLarge):
    pass


class UploadInterrupted(BadRequest):
    code = "UPLOAD_INTERRUPTED"
    default_detail = "The client stopped sending the body before it was complete."


@dataclass(frozen=True)
class Upload:
    key: str
    size: int
    sha256: str
    media_type: str
    filename: str


def form_boundary(content_type: str | None) -> bytes:
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise NotMultipart()
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedUpload("The multipart/form-data Content-Type has no boundary.")
    return boundary


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect as error:
        raise UploadInterrupted() from error


@asynccontextmanager
async def receive_upload(
    request: Request,
    session: AsyncSession,
    storage: LocalStorage,
    *,
    max_bytes: int,
    allowed: Collection[str],
) -> AsyncIterator[Upload]:
    """Store the `file` field of the request's multipart body as a new object.

    The object is deleted again if the `async with` block raises, so a failure to
    record it (commit inside the block) leaves nothing behind either.
    """
    boundary = form_boundary(request.headers.get("content-type"))
    # Commit what the request did so far (authentication): no pooled connection, and on
    # SQLite no write lock, stays held while a slow client sends its body.
    await session.commit()
    form = MultipartFile(_body(request), boundary, field=FILE_FIELD)
    part = await form.open()
    sniffer = Sniffer(allowed)
    async with aclosing(sniffer.check(form.content())) as content:
        try:
            stored = await storage.save(content, max_bytes=max_bytes)
        except ObjectTooLarge:
            raise UploadTooLarge(f"The file is larger than {max_bytes} bytes.") from None
    try:
        await form.finish()
        media_type = sniffer.media_type
        assert media_type is not None  # the sniffer decided before the first byte passed
        yield Upload(
            key=stored.key,
            size=stored.size,
            sha256=stored.sha256,
            media_type=media_type,
            filename=display_name(part.filename, extension=EXTENSIONS.get(media_type, "")),
        )
    except BaseException:
        with anyio.CancelScope(shield=True):
            await storage.delete(stored.key)
        raise
