"""Content-Disposition with a client's file name (RFC 6266, RFC 8187).

`filename*` carries the exact name, percent-encoded UTF-8; `filename` is a plain ASCII
fallback for the few clients that ignore `filename*`. Neither can break out of the
header: quotes, backslashes, semicolons and control characters never reach it raw.
"""

import re
import unicodedata
from typing import Literal
from urllib.parse import quote

# RFC 8187 attr-char beyond letters, digits and "_.-~", which quote() keeps anyway.
ATTR_CHAR_EXTRAS = "!#$&+^`|"
UNSAFE_FALLBACK = re.compile(r"[^A-Za-z0-9._()+,=@ -]+")
ALPHANUMERIC = re.compile(r"[A-Za-z0-9]")
EXTENSION = re.compile(r"[A-Za-z0-9]{1,16}")
FALLBACK_STEM = "download"


def content_disposition(
    filename: str, *, disposition: Literal["attachment", "inline"] = "attachment"
) -> str:
    encoded = quote(filename, safe=ATTR_CHAR_EXTRAS, encoding="utf-8", errors="replace")
    return f"{disposition}; filename=\"{ascii_fallback(filename)}\"; filename*=UTF-8''{encoded}"


def ascii_fallback(filename: str) -> str:
    # "résumé" → "resume": decompose, then drop what is not ASCII (the accents).
    decomposed = unicodedata.normalize("NFKD", filename)
    ascii_only = decomposed.encode("ascii", errors="ignore").decode("ascii")
    stem, dot, extension = ascii_only.rpartition(".")
    if not dot:
        stem, extension = extension, ""
    stem = UNSAFE_FALLBACK.sub("_", stem).strip(" ._")
    if not ALPHANUMERIC.search(stem):
        stem = FALLBACK_STEM
    return f"{stem}.{extension}" if EXTENSION.fullmatch(extension) else stem
