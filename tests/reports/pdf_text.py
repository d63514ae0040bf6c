"""The text a PDF shows, read from its (deflated) content streams: enough to check a
report's tables without a PDF library."""

import re
import zlib

STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.DOTALL)
SHOWN = re.compile(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj")
ESCAPED = re.compile(rb"\\(.)")


def shown_text(pdf: bytes) -> list[str]:
    texts: list[str] = []
    for match in STREAM.finditer(pdf):
        try:
            content = zlib.decompress(match.group(1))
        except zlib.error:
            content = match.group(1)
        texts.extend(ESCAPED.sub(rb"\1", text).decode("latin-1") for text in SHOWN.findall(content))
    return texts
