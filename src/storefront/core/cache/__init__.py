"""The application cache: JSON values computed once per miss, invalidated by key or tag.

    popular = await cache.get_or_compute(
        "items:popular", lambda: load_popular(session), ttl=60, tags=["orders"]
    )
    ...  # after the commit that changed units sold:
    await cache.invalidate_tags("orders")

With REDIS_URL set, every process shares entries, locks and invalidations. Without it the
cache lives in this process only: invalidation then reaches this process alone.
"""

from storefront.core.cache.app_cache import AppCache
from storefront.core.cache.dependencies import Cache, get_cache
from storefront.core.cache.factory import create_cache
from storefront.core.cache.json_values import JSON, CacheValueError

__all__ = ["JSON", "AppCache", "Cache", "CacheValueError", "create_cache", "get_cache"]
