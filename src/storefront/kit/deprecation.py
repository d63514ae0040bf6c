"""Deprecated API versions announce their end: `Deprecation` (RFC 9745), `Sunset`
(RFC 8594) and a `Link` to the successor (RFC 8288), on every response of the route."""

from datetime import datetime
from email.utils import format_datetime

from starlette.requests import HTTPConnection

from storefront.core.response_headers import add_response_header


def announce_deprecation(
    connection: HTTPConnection, *, deprecated_at: datetime, sunset_at: datetime, successor: str
) -> None:
    """`successor` is the URL of the same resource in the version that replaces it."""
    add_response_header(connection, "Deprecation", f"@{int(deprecated_at.timestamp())}")
    add_response_header(connection, "Sunset", format_datetime(sunset_at, usegmt=True))
    add_response_header(connection, "Link", f'<{successor}>; rel="successor-version"')
