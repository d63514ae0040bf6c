"""Deprecated API versions announce their end: `Deprecation` (RFC 9745), `Sunset`
(RFC 8594) and a `Link` to the successor (RFC 8288), on every response of the route."""

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from functools import cache
from urllib.parse import quote

from starlette.requests import HTTPConnection

from storefront.core.response_headers import RESPONSE_HEADERS_SCOPE_KEY

# What may stay as it is in a path or a query of the Link; everything else is
# percent-encoded, so any path a client sent makes a valid (Latin-1) header.
PATH_SAFE = "/-._~!$&'()*+,;=:@"
QUERY_SAFE = PATH_SAFE + "?%"


@dataclass(frozen=True, slots=True)
class Deprecation:
    deprecation: bytes
    sunset: bytes

    @staticmethod
    @cache
    def of(deprecated_at: datetime, sunset_at: datetime) -> "Deprecation":
        return Deprecation(
            f"@{int(deprecated_at.timestamp())}".encode(),
            format_datetime(sunset_at, usegmt=True).encode(),
        )

    def announce(self, connection: HTTPConnection, *, successor: tuple[str, str]) -> None:
        """`successor`: the path prefix of this version and of the one that replaces it;
        the Link names the same resource there, query string included."""
        scope = connection.scope
        old, new = successor
        link = quote(scope["path"].replace(old, new, 1), safe=PATH_SAFE)
        if query := scope.get("query_string"):
            link += "?" + quote(query, safe=QUERY_SAFE)
        headers: list[tuple[bytes, bytes]] = scope.setdefault(RESPONSE_HEADERS_SCOPE_KEY, [])
        headers += [
            (b"deprecation", self.deprecation),
            (b"sunset", self.sunset),
            (b"link", f'<{link}>; rel="successor-version"'.encode()),
        ]
