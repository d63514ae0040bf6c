"""Build the application cache from settings: Redis when REDIS_URL is set, else memory."""

from typing import Any

from cashews import Cache as CashewsCache
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from storefront.core.cache.app_cache import AppCache
from storefront.core.cache.backend_health import BackendHealth
from storefront.core.config import Settings

DEFAULT_NAMESPACE = "storefront:cache:"
MEMORY_MAX_KEYS = 10_000
REDIS_MAX_CONNECTIONS = 50
# A computation normally ends well within LOCK_TTL; if its process dies, the lock expires.
LOCK_TTL_SECONDS = 10.0
LOCK_WAIT_SECONDS = 5.0
RETRY_BACKEND_AFTER_SECONDS = 5.0
WARN_EVERY_SECONDS = 60.0

# cashews' Redis backend pickles by default (and pickle from a shared store runs code on
# load); "json" stores plain JSON. check_repr only guards unpickled objects.
_JSON_ONLY: dict[str, Any] = {"pickle_type": "json", "check_repr": False}


def _redis_options(settings: Settings) -> dict[str, Any]:
    timeout = settings.redis_timeout_seconds
    return {
        **_JSON_ONLY,
        # cashews' default ("suppress") logs every failed command with a traceback and
        # answers None; raising lets AppCache fail soft and warn once per interval.
        "suppress": False,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "wait_for_connection_timeout": timeout,
        "max_connections": REDIS_MAX_CONNECTIONS,
        "client_name": "storefront-cache",
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=2),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def create_cache(
    settings: Settings,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    lock_ttl_seconds: float = LOCK_TTL_SECONDS,
    lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    retry_backend_after_seconds: float = RETRY_BACKEND_AFTER_SECONDS,
) -> AppCache:
    """Connections open on first use; close with `await cache.aclose()`."""
    backend = CashewsCache(name="storefront")
    if settings.redis_url:
        backend.setup(settings.redis_url, **_redis_options(settings))
    else:
        backend.setup("mem://", size=MEMORY_MAX_KEYS, **_JSON_ONLY)
    return AppCache(
        backend,
        namespace=namespace,
        shared=bool(settings.redis_url),
        default_ttl_seconds=settings.cache_default_ttl_seconds,
        lock_ttl_seconds=lock_ttl_seconds,
        lock_wait_seconds=lock_wait_seconds,
        health=BackendHealth(
            retry_after_seconds=retry_backend_after_seconds,
            warn_every_seconds=WARN_EVERY_SECONDS,
        ),
    )
