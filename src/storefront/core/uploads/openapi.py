"""How an upload route documents its body: FastAPI cannot infer it, because the route
reads the stream itself instead of declaring an `UploadFile` parameter."""

from collections.abc import Collection
from typing import Any

from storefront.core.uploads.receive import FILE_FIELD
from storefront.core.uploads.sniffing import describe


def multipart_file_body(*, allowed: Collection[str]) -> dict[str, Any]:
    """An `openapi_extra` with a multipart/form-data body holding one binary `file`."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [FILE_FIELD],
                        "properties": {
                            FILE_FIELD: {
                                "type": "string",
                                "format": "binary",
                                "description": (
                                    f"The file: {describe(allowed)}, recognised by its content. "
                                    "At most UPLOAD_MAX_BYTES (10 MiB by default)."
                                ),
                            }
                        },
                    }
                }
            },
        }
    }
