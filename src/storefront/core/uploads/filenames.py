"""A client's file name as display metadata: never a path, never trusted.

The name only ever travels back to clients (JSON, Content-Disposition), so it is made
harmless to show: no directory part, no control or bidirectional-override characters
(which can disguise "gpj.exe" as "exe.jpg"), valid UTF-8, bounded length.
"""

import re
import unicodedata
from pathlib import PurePosixPath

MAX_FILENAME_BYTES = 255
MAX_EXTENSION_CHARS = 16
FALLBACK_STEM = "upload"
# Cc: C0/C1 controls and NUL; Cf: format characters (bidi overrides, zero-width);
# Zl/Zp: line and paragraph separators; Cs/Co/Cn: surrogates, private use, unassigned.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
WHITESPACE = re.compile(r"\s+")


def display_name(raw: bytes | None, *, extension: str) -> str:
    """A safe name from the raw bytes a client sent; `extension` completes the fallback
    used when nothing printable is left."""
    text = _decode(raw or b"")
    text = unicodedata.normalize("NFC", text)
    # Both separators: a Windows client's path reaches a POSIX server, and vice versa.
    text = re.split(r"[/\\]", text)[-1]
    # Tabs and other spacing controls read as spaces; the remaining invisibles go.
    text = WHITESPACE.sub(" ", text)
    text = "".join(char for char in text if unicodedata.category(char) not in INVISIBLE_CATEGORIES)
    text = text.strip(" ").rstrip(".")
    if not text.strip("."):
        return FALLBACK_STEM + extension
    return _truncate(text)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Not UTF-8 (a legacy code page): keep what decodes, mark the rest.
        return raw.decode("utf-8", errors="replace")


def _truncate(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return name
    suffix = PurePosixPath(name).suffix
    if len(suffix) > MAX_EXTENSION_CHARS:
        suffix = ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    budget = MAX_FILENAME_BYTES - len(suffix.encode("utf-8"))
    # Cut at a character boundary: drop the bytes of a half-encoded last character.
    kept = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip(" .")
    return (kept or FALLBACK_STEM) + suffix
