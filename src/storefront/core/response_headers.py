"""Headers a dependency decides on for every response of its route, errors included.

A `Response` parameter only reaches successful responses; headers left in the scope are
added by the observability middleware's send wrapper to whatever the route answers.
"""

from starlette.requests import HTTPConnection

RESPONSE_HEADERS_SCOPE_KEY = "storefront.response_headers"


def add_response_header(connection: HTTPConnection, name: str, value: str) -> None:
    headers: list[tuple[bytes, bytes]] = connection.scope.setdefault(RESPONSE_HEADERS_SCOPE_KEY, [])
    headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
