"""One file field of a multipart/form-data body, read as the body streams in.

python-multipart's push parser is fed one network chunk at a time; its callbacks queue
what the consumer needs (the file part's headers, then its bytes), so at most one
chunk is held in memory whatever the size of the body. Other fields are skipped.
"""

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from storefront.core.errors import BadRequest, Unprocessable

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

# Room for a long (UTF-8) file name in a part's Content-Disposition; the rest is cut off.
MAX_PART_HEADER_BYTES = 8192


class MalformedUpload(BadRequest):
    code = "MALFORMED_MULTIPART"
    default_detail = "The multipart/form-data body is malformed."


@dataclass(frozen=True)
class FilePart:
    filename: bytes | None
    content_type: bytes | None


class _PartStart:
    def __init__(self, part: FilePart) -> None:
        self.part = part


class _Mark:
    """End of the wanted part, or of the whole body."""


PART_END = _Mark()
BODY_END = _Mark()
Event = bytes | _PartStart | _Mark


class MultipartFile:
    """The first part named `field`: `open()` for its headers, `content()` for its
    bytes, then `finish()` to check that the body ends properly."""

    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes, *, field: str) -> None:
        self._chunks = chunks
        self._field = field.encode()
        self._events: deque[Event] = deque()
        self._exhausted = False
        self._found = False
        self._capturing = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._headers.clear,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": lambda: self._events.append(BODY_END),
        }
        try:
            self._parser = MultipartParser(
                boundary, callbacks, max_header_size=MAX_PART_HEADER_BYTES
            )
        except ValueError as error:
            raise MalformedUpload("The multipart boundary is not valid.") from error

    async def open(self) -> FilePart:
        while True:
            event = await self._next()
            if isinstance(event, _PartStart):
                return event.part
            if event is BODY_END:
                raise MissingFileField(self._field.decode())

    async def content(self) -> AsyncIterator[bytes]:
        while True:
            event = await self._next()
            if isinstance(event, bytes):
                yield event
            elif event is PART_END:
                return
            else:
                raise MalformedUpload()

    async def finish(self) -> None:
        while await self._next() is not BODY_END:
            pass

    async def _next(self) -> Event:
        while not self._events:
            if self._exhausted:
                raise MalformedUpload("The multipart body ended before its closing boundary.")
            chunk = await anext(self._chunks, None)
            if chunk is None:
                self._exhausted = True
                continue
            try:
                self._parser.write(chunk)
            except MultipartParseError as error:
                raise MalformedUpload() from error
        return self._events.popleft()

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).strip().lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        self._capturing = not self._found and options.get(b"name") == self._field
        if self._capturing:
            self._found = True
            part = FilePart(options.get(b"filename"), self._headers.get(b"content-type"))
            self._events.append(_PartStart(part))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._capturing and end > start:
            self._events.append(data[start:end])

    def _part_end(self) -> None:
        if self._capturing:
            self._capturing = False
            self._events.append(PART_END)


class MissingFileField(Unprocessable):
    """Shaped like a validation error, so clients handle it with the other 422s."""

    def __init__(self, field: str) -> None:
        super().__init__(
            f"The multipart body has no `{field}` field.",
            extra={
                "errors": [{"loc": ["body", field], "msg": "Field required", "type": "missing"}]
            },
        )
