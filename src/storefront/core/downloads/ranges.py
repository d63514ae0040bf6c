"""Single byte ranges (RFC 9110 §14): which part of a representation a GET asks for.

Only one range per request is served as 206. A request for several ranges gets the
whole representation (200), which RFC 9110 allows (a server may ignore Range); it
spares us multipart/byteranges and the many-tiny-ranges amplification it invites. A
Range the server cannot parse, or in another unit, is ignored the same way.
"""

import re
from dataclasses import dataclass

from storefront.core.downloads.validators import strong_match
from storefront.core.errors import AppError

RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$", re.ASCII)
# Past any file we store; also keeps int() away from Python's digit-count limit.
MAX_DIGITS = 18


class RangeNotSatisfiable(AppError):
    status_code = 416
    code = "RANGE_NOT_SATISFIABLE"
    title = "Range Not Satisfiable"
    default_detail = "The requested range is outside the file."

    def __init__(self, size: int) -> None:
        super().__init__(
            f"The requested range is outside the file's {size} bytes.",
            headers={"Content-Range": f"bytes */{size}"},
        )


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


def requested_range(
    range_header: str | None, if_range: str | None, *, size: int, etag: str
) -> ByteRange | None:
    """The one range to send, None for the whole representation; raises
    RangeNotSatisfiable when the single range asked for lies outside it."""
    if range_header is None:
        return None
    # If-Range: a range of an older version would splice two versions together.
    if if_range is not None and not strong_match(if_range, etag):
        return None
    unit, separator, specs = range_header.partition("=")
    if not separator or unit.strip().lower() != "bytes":
        return None
    ranges = [spec.strip() for spec in specs.split(",") if spec.strip()]
    if len(ranges) != 1:
        return None
    match = RANGE_SPEC.match(ranges[0])
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        return _suffix(_number(last), size)
    start = _number(first)
    if last != "" and _number(last) < start:
        return None  # last before first: invalid, ignored
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = size if last == "" else min(_number(last) + 1, size)
    return ByteRange(start, end)


def _suffix(length: int, size: int) -> ByteRange:
    if length == 0 or size == 0:
        raise RangeNotSatisfiable(size)
    return ByteRange(max(0, size - length), size)


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= MAX_DIGITS else 10**MAX_DIGITS
