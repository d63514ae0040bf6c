"""Caps request bodies: refused up front by Content-Length, or cut off while streaming."""

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.errors import PayloadTooLarge
from storefront.core.problems import render_app_error

MULTIPART_SLACK_BYTES = 64 * 1024


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Multipart framing adds boundaries and part headers around the file itself.
        self.max_multipart_bytes = max_upload_bytes + MULTIPART_SLACK_BYTES

    def _limit_for(self, scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-type" and value.lower().startswith(b"multipart/form-data"):
                return self.max_multipart_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        detail = f"The request body is larger than {limit} bytes."
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = render_app_error(Request(scope), PayloadTooLarge(detail))
            await response(scope, receive, send)
            return
        received = 0

        async def receive_capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, receive_capped, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
