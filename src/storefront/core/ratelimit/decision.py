"""What one hit on a policy decided, and how it is told to the client."""

import math
import time
from dataclasses import dataclass

# Where the dependency leaves the decision for the observability middleware, which adds
# its headers to whatever response the route ends with (404s and 422s included). A scope
# key rather than `request.state`: state can be one dict shared by every request (as
# asgi-lifespan's test manager does), the scope never is.
RATE_LIMIT_SCOPE_KEY = "storefront.rate_limit"


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    policy: str
    allowed: bool
    limit: int
    remaining: int
    # Seconds until the policy lets at least one more request through.
    reset_after: int

    @classmethod
    def of(
        cls, policy: str, *, allowed: bool, limit: int, remaining: int, reset_at: float
    ) -> "RateLimitDecision":
        reset_after = max(0, math.ceil(reset_at - time.time()))
        return cls(policy, allowed, limit, max(0, remaining) if allowed else 0, reset_after)

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_after)

    def is_stricter_than(self, other: "RateLimitDecision") -> bool:
        """The policy closest to running out is the one a client must respect."""
        return (self.remaining, -self.reset_after) < (other.remaining, -other.reset_after)

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_after).encode()),
        ]
