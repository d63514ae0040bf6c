"""What the bench measures: each endpoint's request, its expected answer and its targets.

A path, header value or body may hold placeholders, filled afresh for every request by
the wrk script (and once by the harness for its status check): `{item}` an item id drawn
from the seeded catalogue, `{page}` a page of 100 items, `{unique}` a value never sent
before in the run.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

AppName = Literal["bare", "storefront"]
Mode = Literal["sqlite", "postgresql"]

REFERENCE = "bare-ping"
ITEM_READ = "items-get"
PLACEHOLDER = re.compile(r"\{(item|page|unique)\}")
BOTH: frozenset[Mode] = frozenset({"sqlite", "postgresql"})
POSTGRESQL: frozenset[Mode] = frozenset({"postgresql"})
SQLITE: frozenset[Mode] = frozenset({"sqlite"})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    expected_status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    # Sent with the first admin's bearer access token.
    bearer: bool = False

    @property
    def is_static(self) -> bool:
        texts = [self.path, *self.headers.values(), self.body or ""]
        return not any(PLACEHOLDER.search(text) for text in texts)

    @property
    def needs_catalog(self) -> bool:
        texts = [self.path, *self.headers.values(), self.body or ""]
        return any(name in ("item", "page") for t in texts for name in PLACEHOLDER.findall(t))

    def describe(self) -> str:
        who = "bearer" if self.bearer else "anonymous"
        return f"{self.method} {self.path} ({who}) → {self.expected_status}"


@dataclass(frozen=True)
class Flood:
    """A second load on the same server while the endpoint is measured."""

    request: Request
    connections: int
    # Answers that are right for the flood's requests; any other is a problem.
    accepted_statuses: frozenset[int]
    # The endpoint measured without the flood in the same round: the ratio's denominator.
    baseline: str
    ratio_target: float


@dataclass(frozen=True)
class Endpoint:
    name: str
    app: AppName
    request: Request
    modes: frozenset[Mode] = BOTH
    # None: the run's --connections.
    connections: int | None = None
    # Minimum share of the bare /ping throughput of the same round, per mode.
    ratio_targets: Mapping[Mode, float] = field(default_factory=dict)
    ratio_goal: float | None = None
    p99_target_ms: float | None = None
    # Answers counted and shown but not a problem (503: the documented overload answer).
    tolerated_statuses: frozenset[int] = frozenset()
    # Target: every answer expected or tolerated, and no socket error or timeout.
    error_free_target: bool = False
    same_core: bool = True
    flood: Flood | None = None

    def connections_or(self, default: int) -> int:
        return self.connections or default


ITEM_PATH = "/api/v1/items/{item}"
ITEM = Request("GET", ITEM_PATH, 200, bearer=True)
ORDER_BODY = '{"lines": [{"item_id": {item}, "quantity": 1}]}'
ORDER_HEADERS = {"Content-Type": "application/json", "Idempotency-Key": "bench-{unique}"}
LOGIN = Request(
    "POST",
    "/api/v1/auth/token",
    401,
    headers={"Content-Type": "application/x-www-form-urlencoded"},
    body="username=flood-{unique}%40example.com&password=not-the-password",
)
OVERLOADED = frozenset({503})
PING = Request("GET", "/ping", 200)


def _item_read_at(connections: int) -> Endpoint:
    return Endpoint(
        f"{ITEM_READ}-c{connections}",
        "storefront",
        ITEM,
        POSTGRESQL,
        connections=connections,
        tolerated_statuses=OVERLOADED,
        error_free_target=True,
        same_core=False,
    )


ENDPOINTS: list[Endpoint] = [
    Endpoint(REFERENCE, "bare", PING, same_core=False),
    Endpoint(
        "health-live",
        "storefront",
        Request("GET", "/health/live", 200),
        ratio_targets={"sqlite": 0.80, "postgresql": 0.80},
    ),
    Endpoint("not-found", "storefront", Request("GET", "/nope-404", 404), SQLITE),
    Endpoint(
        "users-me",
        "storefront",
        Request("GET", "/api/v1/users/me", 200, bearer=True),
        ratio_targets={"sqlite": 0.12, "postgresql": 0.20},
    ),
    Endpoint(
        ITEM_READ,
        "storefront",
        ITEM,
        POSTGRESQL,
        ratio_targets={"postgresql": 0.15},
        p99_target_ms=50.0,
    ),
    Endpoint(
        "items-get-anon",
        "storefront",
        Request("GET", ITEM_PATH, 200),
        POSTGRESQL,
        ratio_targets={"postgresql": 0.20},
    ),
    Endpoint(
        "items-page",
        "storefront",
        Request("GET", "/api/v1/items?per_page=100&page={page}", 200, bearer=True),
        POSTGRESQL,
        ratio_targets={"postgresql": 0.08},
        ratio_goal=0.12,
    ),
    Endpoint(
        "popular-anon",
        "storefront",
        Request("GET", "/api/v1/items/popular", 200),
        POSTGRESQL,
        ratio_targets={"postgresql": 0.50},
    ),
    Endpoint(
        "popular",
        "storefront",
        Request("GET", "/api/v1/items/popular", 200, bearer=True),
        POSTGRESQL,
        ratio_targets={"postgresql": 0.30},
    ),
    Endpoint(
        "orders-post",
        "storefront",
        Request("POST", "/api/v1/orders", 201, headers=ORDER_HEADERS, body=ORDER_BODY, bearer=True),
        POSTGRESQL,
        ratio_targets={"postgresql": 0.06},
    ),
    _item_read_at(256),
    _item_read_at(1024),
    Endpoint(
        "login-flood",
        "storefront",
        ITEM,
        POSTGRESQL,
        # Reads shed during the flood: counted, and not served.
        tolerated_statuses=OVERLOADED,
        same_core=False,
        flood=Flood(
            LOGIN,
            connections=50,
            accepted_statuses=frozenset({401, 429, 503}),
            baseline=ITEM_READ,
            ratio_target=0.50,
        ),
    ),
]

# Worker RSS after each run, once the server is idle, in MB (10^6 bytes).
RSS_TARGETS_MB: Mapping[Mode, float] = {"postgresql": 150.0}
