"""How a download operation's binary answers appear in OpenAPI."""

from collections.abc import Collection
from typing import Any


def download_responses(
    media_types: Collection[str], *, description: str, attachment: bool
) -> dict[int | str, dict[str, Any]]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    content = dict.fromkeys(sorted(media_types), binary)
    headers: dict[str, Any] = {
        "ETag": {"description": "Changes whenever the content does.", "schema": {"type": "string"}}
    }
    if attachment:
        headers["Content-Disposition"] = {
            "description": "`attachment` with the file's name (`filename` and `filename*`).",
            "schema": {"type": "string"},
        }
    return {
        200: {"description": description, "content": content, "headers": headers},
        206: {
            "description": "The one byte range asked for; `Content-Range` says which.",
            "content": content,
            "headers": headers,
        },
        304: {"description": "Not modified: the ETag sent in If-None-Match is current."},
    }
