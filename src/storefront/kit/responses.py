"""A JSON response whose body a route has already shaped as its response model says."""

from typing import Any

import orjson
from starlette.responses import Response


class JSONBody(Response):
    """Encoded with orjson: datetimes as RFC 3339 with `Z`, as Pydantic writes them.

    FastAPI does not validate a returned Response against the route's `response_model`
    (which still documents it): the body must come from the schema's own `fields_of`."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content  # encoded already
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)
