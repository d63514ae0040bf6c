"""The FastAPI side of rate limiting: the per-route dependency and the login check."""

import hashlib
from functools import cache
from typing import Any

from fastapi import Request, params

from storefront.core.errors import RateLimited
from storefront.core.problems import problem_responses
from storefront.core.ratelimit.client_ip import client_ip, ip_bucket
from storefront.core.ratelimit.decision import RATE_LIMIT_SCOPE_KEY, RateLimitDecision
from storefront.core.ratelimit.limiter import PolicyName, RateLimiter

STATE_KEY = "rate_limiter"
UNKNOWN_CLIENT = "unknown"


def _integer_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


# For a router's or route's `responses=`: documents the 429 a limited route can answer.
RATE_LIMITED_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        **problem_responses(429)[429],
        "headers": {
            "Retry-After": _integer_header("Seconds to wait before retrying."),
            "RateLimit-Limit": _integer_header("Requests allowed per window."),
            "RateLimit-Remaining": _integer_header("Requests left in the window."),
            "RateLimit-Reset": _integer_header("Seconds until the budget grows again."),
        },
    }
}


def rate_limiter_of(request: Request) -> RateLimiter:
    limiter = getattr(request.state, STATE_KEY, None)
    if not isinstance(limiter, RateLimiter):
        raise RuntimeError(f"the app's lifespan must yield a RateLimiter as {STATE_KEY!r}")
    return limiter


def _client_ip_bucket(request: Request, limiter: RateLimiter) -> str:
    ip = client_ip(request.scope, limiter.trusted_networks)
    return ip_bucket(ip) if ip is not None else UNKNOWN_CLIENT


def client_key(request: Request, limiter: RateLimiter) -> str:
    """The authenticated user when one is known (set by authentication), else the IP."""
    user_id = getattr(request.state, "user_id", None)
    if user_id is not None:
        return f"user:{user_id}"
    return f"ip:{_client_ip_bucket(request, limiter)}"


def account_key(account: str) -> str:
    # Hashed: keeps e-mail addresses out of Redis and bounds a hostile key's length.
    normalized = account.strip().casefold().encode()
    return hashlib.sha256(normalized).hexdigest()[:32]


async def enforce(request: Request, limiter: RateLimiter, policy: PolicyName, key: str) -> None:
    """Spend one request under `policy`; raise RateLimited when the budget is gone."""
    decision = await limiter.hit(policy, key)
    if decision is None:
        return
    scope = request.scope
    if not decision.allowed:
        # The error carries every header itself; the middleware must not add them twice.
        scope.pop(RATE_LIMIT_SCOPE_KEY, None)
        raise RateLimited(
            f"Too many requests; retry in {decision.retry_after} seconds.",
            headers=decision.headers(),
        )
    reported: RateLimitDecision | None = scope.get(RATE_LIMIT_SCOPE_KEY)
    if reported is None or decision.is_stricter_than(reported):
        scope[RATE_LIMIT_SCOPE_KEY] = decision


class RateLimit:
    """Limits a route under one policy, per client; see `rate_limit`."""

    __slots__ = ("policy",)

    def __init__(self, policy: PolicyName) -> None:
        self.policy: PolicyName = policy

    async def __call__(self, request: Request) -> None:
        limiter = rate_limiter_of(request)
        if limiter.enabled:
            await enforce(request, limiter, self.policy, client_key(request, limiter))


@cache
def rate_limit(policy: PolicyName) -> params.Depends:
    """A dependency for `dependencies=[...]` of a route or router.

    Every /api router passes `DEFAULT_RATE_LIMIT`, and `RATE_LIMITED_RESPONSES` in its
    `responses=`; a route with a policy of its own adds it, e.g. search:
    `@router.get("/search", dependencies=[rate_limit("search")])`. The response then
    reports the policy closest to running out. Authentication must run before it (an
    earlier dependency, or a middleware) for the user to be the client.
    """
    # One instance per policy: FastAPI runs a dependency once per request, so a route
    # that gets a policy from both its router and itself is counted once.
    return params.Depends(RateLimit(policy))


DEFAULT_RATE_LIMIT = rate_limit("default")


async def check_login_rate(request: Request, *, account: str) -> None:
    """Count one sign-in or password-reset attempt on `account` from this client's IP.

    For the auth routes, once the form is parsed: raises RateLimited when this IP has
    tried this account too often. Keyed by IP even for an authenticated caller, so that
    one token cannot be used to guess at many accounts' passwords faster."""
    limiter = rate_limiter_of(request)
    if limiter.enabled:
        key = f"ip:{_client_ip_bucket(request, limiter)}:account:{account_key(account)}"
        await enforce(request, limiter, "login", key)
