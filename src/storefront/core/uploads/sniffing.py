"""What a file is, decided by its first bytes (its magic number), never by its name or
by the Content-Type a client claims."""

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection

from storefront.core.errors import UnsupportedMediaType

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
PDF = "application/pdf"

IMAGE_TYPES = frozenset({JPEG, PNG, WEBP})
EXTENSIONS = {JPEG: ".jpg", PNG: ".png", WEBP: ".webp", PDF: ".pdf"}

# The longest signature to look at: RIFF, a 4-byte size, then WEBP.
SNIFF_BYTES = 12

SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    (JPEG, lambda head: head.startswith(b"\xff\xd8\xff")),
    (PNG, lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    (WEBP, lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP"),
    (PDF, lambda head: head.startswith(b"%PDF-")),
)


class UnsupportedFileType(UnsupportedMediaType):
    code = "UNSUPPORTED_FILE_TYPE"
    default_detail = "The file's content is not of an accepted type."


def sniff(head: bytes) -> str | None:
    for media_type, matches in SIGNATURES:
        if matches(head):
            return media_type
    return None


def describe(allowed: Collection[str]) -> str:
    return ", ".join(sorted(allowed))


class Sniffer:
    """Passes a stream through once its first bytes show an allowed type; raises
    UnsupportedFileType before yielding anything otherwise."""

    def __init__(self, allowed: Collection[str]) -> None:
        self.allowed = frozenset(allowed)
        self.media_type: str | None = None

    async def check(self, chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        head = b""
        async for chunk in chunks:
            if self.media_type is not None:
                yield chunk
                continue
            head += chunk
            if len(head) >= SNIFF_BYTES:
                self._decide(head)
                yield head
        if self.media_type is None:
            # The whole stream was shorter than a signature.
            self._decide(head)
            yield head

    def _decide(self, head: bytes) -> None:
        media_type = sniff(head)
        if media_type is None or media_type not in self.allowed:
            raise UnsupportedFileType(
                f"The file's content is not one of the accepted types: {describe(self.allowed)}."
            )
        self.media_type = media_type
