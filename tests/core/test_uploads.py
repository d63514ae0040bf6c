"""The upload building blocks on their own: the streaming multipart reader (whatever the
chunking), the sniffer, and display names."""

from collections.abc import AsyncIterator

import pytest

from storefront.core.uploads.filenames import MAX_FILENAME_BYTES, display_name
from storefront.core.uploads.multipart import MalformedUpload, MissingFileField, MultipartFile
from storefront.core.uploads.sniffing import PDF, PNG, Sniffer, UnsupportedFileType
from tests.fixtures.uploads import BOUNDARY, form, part_head

pytestmark = pytest.mark.anyio

# Bytes that look like the boundary's start inside the content must stay content.
TRICKY = b"%PDF-\r\n--storefront-test\r\n--" + bytes(range(256)) * 8 + b"\r\n-"


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_file(body: bytes, size: int) -> tuple[bytes | None, bytes]:
    reader = MultipartFile(chunked(body, size), BOUNDARY.encode(), field="file")
    part = await reader.open()
    content = b"".join([chunk async for chunk in reader.content()])
    await reader.finish()
    return part.filename, content


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000, 1 << 20])
async def test_the_file_is_read_whole_whatever_the_chunking(size: int) -> None:
    body = part_head(field=b"other") + b"x" * 50 + b"\r\n" + form(TRICKY, filename=b"a.pdf")

    assert await read_file(body, size) == (b"a.pdf", TRICKY)


async def test_only_the_first_file_field_is_taken() -> None:
    body = part_head(filename=b"1.pdf") + b"first\r\n" + form(b"second", filename=b"2.pdf")

    filename, content = await read_file(body, 5)

    assert (filename, content) == (b"1.pdf", b"first")


async def test_a_body_without_the_field_says_which_field_is_missing() -> None:
    reader = MultipartFile(chunked(form(b"x", field=b"other"), 4), BOUNDARY.encode(), field="file")

    with pytest.raises(MissingFileField) as refused:
        await reader.open()

    assert refused.value.extra["errors"][0]["loc"] == ["body", "file"]


@pytest.mark.parametrize(
    "body",
    [
        part_head() + b"no closing boundary",
        form(b"data")[:-3],
        b"garbage before anything",
        b"--" + BOUNDARY.encode() + b"\r\n" + b"X-Header: " + b"v" * 10_000 + b"\r\n\r\n",
    ],
)
async def test_a_truncated_or_broken_body_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedUpload):
        await read_file(body, 16)


@pytest.mark.parametrize("size", [1, 5, 12, 100])
async def test_the_sniffer_decides_across_chunk_boundaries(size: int) -> None:
    sniffer = Sniffer({PDF, PNG})
    data = b"\x89PNG\r\n\x1a\n" + b"rest of the image"

    passed = b"".join([chunk async for chunk in sniffer.check(chunked(data, size))])

    assert passed == data
    assert sniffer.media_type == PNG


async def test_the_sniffer_refuses_before_passing_a_single_byte() -> None:
    sniffer = Sniffer({PDF})
    passed: list[bytes] = []

    with pytest.raises(UnsupportedFileType):
        async for chunk in sniffer.check(chunked(b"\x89PNG\r\n\x1a\n" + b"x" * 100, 4)):
            passed.append(chunk)

    assert passed == []


@pytest.mark.parametrize(
    "name",
    ["é" * 200 + ".pdf", "報" * 100 + ".pdf", "😀" * 100, "a" * 300 + ".verylongextension123"],
)
def test_a_long_name_is_cut_to_255_utf8_bytes_on_a_character_boundary(name: str) -> None:
    shown = display_name(name.encode(), extension=".pdf")

    assert len(shown.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert name.startswith(shown.removesuffix(".pdf")) or shown.endswith(".pdf")
    if name.endswith(".pdf"):
        assert shown.endswith(".pdf")


def test_a_missing_name_gets_the_fallback_with_the_type_extension() -> None:
    assert display_name(None, extension=".png") == "upload.png"
