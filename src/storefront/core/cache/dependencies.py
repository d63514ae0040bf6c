from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from storefront.core.cache.app_cache import AppCache


# async: a sync dependency would run in the thread pool (see tests/test_app_structure.py).
async def get_cache(connection: HTTPConnection) -> AppCache:
    cache: AppCache = connection.state.cache
    return cache


Cache = Annotated[AppCache, Depends(get_cache)]
