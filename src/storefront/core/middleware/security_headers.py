"""The security headers of every response; the docs pages get the looser policy they need.

Added by the observability middleware's single send wrapper (one ASGI layer less per
request than a middleware of their own).
"""

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)
DOCS_PREFIXES = ("/docs", "/redoc", "/static/docs")

RawHeaders = list[tuple[bytes, bytes]]


def _encode(headers: dict[str, str]) -> RawHeaders:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


class SecurityHeaders:
    def __init__(self, *, hsts: bool = False) -> None:
        common = {
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
        }
        if hsts:
            common["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        self._api = _encode({**common, "Content-Security-Policy": API_POLICY})
        # Only an HTML page can open or be opened by a window: the opener policy is for the
        # docs (on every API response it was one more header to write, for nothing).
        self._docs = _encode(
            {
                **common,
                "Content-Security-Policy": DOCS_POLICY,
                "Cross-Origin-Opener-Policy": "same-origin",
            }
        )

    def for_path(self, path: str) -> RawHeaders:
        return self._docs if path.startswith(DOCS_PREFIXES) else self._api
