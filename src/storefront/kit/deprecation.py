"""Deprecated API versions announce their end: `Deprecation` (RFC 9745), `Sunset`
(RFC 8594) and a `Link` to the successor (RFC 8288), on every response of the route,
errors included (the observability middleware adds them for the routes it is given)."""

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import quote

from starlette.types import Scope

# What may stay as it is in a path or a query of the Link; everything else is
# percent-encoded, so any path a client sent makes a valid (Latin-1) header.
PATH_SAFE = "/-._~!$&'()*+,;=:@"
QUERY_SAFE = PATH_SAFE + "?%"


@dataclass(frozen=True, slots=True)
class Deprecation:
    deprecation: bytes
    sunset: bytes
    # The path prefix of this version and of the one that replaces it: the Link names
    # the same resource there, query string included.
    prefix: str
    successor_prefix: str

    @classmethod
    def of(
        cls, *, deprecated_at: datetime, sunset_at: datetime, prefix: str, successor_prefix: str
    ) -> "Deprecation":
        return cls(
            f"@{int(deprecated_at.timestamp())}".encode(),
            format_datetime(sunset_at, usegmt=True).encode(),
            prefix,
            successor_prefix,
        )

    def headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        link = quote(scope["path"].replace(self.prefix, self.successor_prefix, 1), safe=PATH_SAFE)
        if query := scope.get("query_string"):
            link += "?" + quote(query, safe=QUERY_SAFE)
        return [
            (b"deprecation", self.deprecation),
            (b"sunset", self.sunset),
            (b"link", f'<{link}>; rel="successor-version"'.encode()),
        ]
