"""Rate limiting (SPEC §2, §3): named policies, per client, shared through Redis.

Wiring, once per process: the lifespan builds `create_rate_limiter(settings)`, yields it
in the state as "rate_limiter" and `await limiter.aclose()`s it on the way out.

Use, per router or route:

    router = APIRouter(dependencies=[DEFAULT_RATE_LIMIT], responses=RATE_LIMITED_RESPONSES)

    @router.get("/search", dependencies=[rate_limit("search")])
    async def search_items(...): ...

and in the auth routes, after parsing the form: `await check_login_rate(request,
account=form.username)`.

A client is `request.state.user_id` when authentication set it, else the client IP (see
`client_ip`). A limited route answers `RateLimit-Limit/Remaining/Reset` on every response,
errors included, and 429 problem+json with `Retry-After` when the budget is spent. When
the storage is unreachable requests pass unlimited, without those headers; when it is
reachable but every connection stays busy for REDIS_TIMEOUT_SECONDS, the request is a 503
problem with `Retry-After` (a flood is not let through).
"""

from storefront.core.ratelimit.client_ip import TrustedNetworks, client_ip, parse_trusted_networks
from storefront.core.ratelimit.decision import RATE_LIMIT_SCOPE_KEY, RateLimitDecision
from storefront.core.ratelimit.dependency import (
    DEFAULT_RATE_LIMIT,
    RATE_LIMITED_RESPONSES,
    STATE_KEY,
    RateLimit,
    check_login_rate,
    client_key,
    rate_limit,
    rate_limiter_of,
)
from storefront.core.ratelimit.limiter import PolicyName, RateLimiter, create_rate_limiter
from storefront.core.ratelimit.outage import StorageOutage

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "RATE_LIMITED_RESPONSES",
    "RATE_LIMIT_SCOPE_KEY",
    "STATE_KEY",
    "PolicyName",
    "RateLimit",
    "RateLimitDecision",
    "RateLimiter",
    "StorageOutage",
    "TrustedNetworks",
    "check_login_rate",
    "client_ip",
    "client_key",
    "create_rate_limiter",
    "parse_trusted_networks",
    "rate_limit",
    "rate_limiter_of",
]
