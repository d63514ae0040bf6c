"""Request body caps: refused up front by Content-Length, or cut off while streaming."""

from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Message, Receive, Scope

from storefront.core.errors import PayloadTooLarge
from storefront.core.problems import render_app_error

MULTIPART_SLACK_BYTES = 64 * 1024
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyLimits:
    def __init__(
        self, *, max_body_bytes: int, max_upload_bytes: int, routes: Sequence[BaseRoute] = ()
    ) -> None:
        self.routes = routes
        self.max_body_bytes = max_body_bytes
        # Multipart framing adds boundaries and part headers around the file itself.
        self.max_multipart_bytes = max_upload_bytes + MULTIPART_SLACK_BYTES

    def apply(self, scope: Scope, receive: Receive) -> tuple[Receive, Response | None]:
        """A receive that stops at the cap, or the 413 to send at once."""
        if scope["method"] in BODYLESS_METHODS:
            return receive, None
        limit = self._limit_for(scope)
        detail = f"The request body is larger than {limit} bytes."
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            # Refused before routing: counted (and announced) as the route it was sent to.
            route = next((r for r in self.routes if r.matches(scope)[0] is Match.FULL), None)
            if route is not None:
                scope["route"] = route
            return receive, render_app_error(Request(scope), PayloadTooLarge(detail))
        received = 0

        async def receive_capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail)
            return message

        return receive_capped, None

    def _limit_for(self, scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-type" and value.lower().startswith(b"multipart/form-data"):
                return self.max_multipart_bytes
        return self.max_body_bytes


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
