"""The rate limiter: named policies over `limits`' sliding-window counter.

Budgets are taken from the storage in blocks (blocks.py): one atomic Lua script in Redis
(or an update in memory) per block, so any number of API processes sharing a Redis share
one budget per client. The login and search policies take one request at a time.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, cast

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.errors import StorageError
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from storefront.core.config import Settings
from storefront.core.errors import ServiceUnavailable
from storefront.core.ratelimit.blocks import Blocks
from storefront.core.ratelimit.client_ip import TrustedNetworks, parse_trusted_networks
from storefront.core.ratelimit.decision import RateLimitDecision
from storefront.core.ratelimit.outage import STORAGE_RETRY_SECONDS, StorageOutage

PolicyName = Literal["default", "login", "search"]
# Policies counted in blocks of up to this share of their limit (see blocks.py).
BLOCK_SHARE: dict[str, float] = {"default": 0.02}
# Redis connections of one process's limiter; a request waits up to REDIS_TIMEOUT_SECONDS
# for a free one.
MAX_CONNECTIONS = 32

# Redis errors, and what a socket raises below redis-py (TimeoutError is an OSError).
STORAGE_ERRORS = (RedisError, StorageError, OSError)


class PoolBusy(Exception):
    """Every connection stayed in use for the whole wait: Redis answers, only slower than
    the requests arrive. Not a RedisError, so that it is never taken for an outage."""


class LimiterBusy(ServiceUnavailable):
    default_detail = "Too many requests are being counted at once; retry shortly."


class WaitingPool(BlockingConnectionPool):
    async def get_connection(self, *args: Any, **options: Any) -> AbstractConnection:
        try:
            connection = await super().get_connection(*args, **options)  # type: ignore[no-untyped-call]
            return cast(AbstractConnection, connection)
        except RedisConnectionError as error:
            if isinstance(error.__cause__, TimeoutError):
                raise PoolBusy from error
            raise


class RateLimiter:
    def __init__(
        self,
        *,
        storage: Storage,
        policies: Mapping[PolicyName, RateLimitItem],
        trusted_networks: TrustedNetworks = (),
        enabled: bool = True,
        outage: StorageOutage | None = None,
        close_storage: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.policies = dict(policies)
        self.trusted_networks = trusted_networks
        self.enabled = enabled
        self.outage = outage or StorageOutage()
        self._blocks = {
            name: Blocks(storage, item, max_block=int(item.amount * BLOCK_SHARE.get(name, 0.0)))
            for name, item in self.policies.items()
        }
        self._close_storage = close_storage

    async def hit(self, policy: PolicyName, key: str) -> RateLimitDecision | None:
        """Spend one request of `key`'s budget under `policy`.

        None means no verdict: limiting is disabled, or the storage is unavailable and the
        request is let through (failing open)."""
        if not self.enabled or self.outage.should_skip_storage():
            return None
        try:
            verdict = await self._blocks[policy].hit(f"{policy}/{key}")
        except PoolBusy:
            # Failing open here would let a flood through exactly when it is largest;
            # but while the connections that held the pool fail, Redis is down.
            if self.outage.failing:
                return None
            raise LimiterBusy() from None
        except STORAGE_ERRORS as error:
            self.outage.record_failure(error)
            return None
        self.outage.record_success()
        return RateLimitDecision.of(
            policy,
            allowed=verdict.allowed,
            limit=self.policies[policy].amount,
            remaining=verdict.remaining,
            reset_at=verdict.reset_at,
        )

    async def aclose(self) -> None:
        if self._close_storage is not None:
            await self._close_storage()


def create_rate_limiter(
    settings: Settings,
    *,
    key_prefix: str | None = None,
    storage_retry_seconds: float = STORAGE_RETRY_SECONDS,
) -> RateLimiter:
    policies: dict[PolicyName, RateLimitItem] = {
        "default": parse(settings.rate_limit_default),
        "login": parse(settings.rate_limit_login),
        "search": parse(settings.rate_limit_search),
    }
    common: dict[str, Any] = {
        "policies": policies,
        "trusted_networks": parse_trusted_networks(settings.trusted_proxies),
        "enabled": settings.rate_limit_enabled,
        "outage": StorageOutage(retry_seconds=storage_retry_seconds),
    }
    if not settings.redis_url:
        return RateLimiter(storage=MemoryStorage(), **common)
    pool = _redis_pool(settings)
    return RateLimiter(
        storage=_redis_storage(
            settings.redis_url, pool, key_prefix or settings.rate_limit_key_prefix
        ),
        close_storage=pool.aclose,
        **common,
    )


def _redis_pool(settings: Settings) -> WaitingPool:
    # Fail fast: a limiter that waits on a dead Redis delays every request it guards. One
    # immediate retry hides a connection dropped by a Redis restart.
    return WaitingPool.from_url(
        settings.redis_url,
        max_connections=MAX_CONNECTIONS,
        timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        retry=Retry(NoBackoff(), retries=1),
    )


def _redis_storage(redis_url: str, pool: WaitingPool, key_prefix: str) -> RedisStorage:
    # `limits` reads a unix:// URL as a Valkey one; its own spelling for a Redis socket is
    # redis+unix://. The pool, built from the real URL, is what connects.
    storage_uri = "redis+" + redis_url if redis_url.startswith("unix://") else redis_url
    # `options` are typed as scalars, but redispy's bridge takes a ready pool among them.
    pool_option: dict[str, Any] = {"connection_pool": pool}
    return RedisStorage(storage_uri, implementation="redispy", key_prefix=key_prefix, **pool_option)
