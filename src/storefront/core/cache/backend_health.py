"""Fail soft when the cache backend is unreachable: skip it for a while, warn rarely."""

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cashews.exceptions import CacheBackendInteractionError
from redis.exceptions import RedisError

logger = logging.getLogger("storefront.cache")

# JSONDecodeError: an entry in our namespace that something else wrote; treated like an
# outage rather than a crash on every read of that key.
BACKEND_ERRORS = (CacheBackendInteractionError, RedisError, OSError, json.JSONDecodeError)


class BackendUnavailable(Exception):
    """A cache backend call failed; `__cause__` holds why."""


@contextmanager
def backend_errors() -> Iterator[None]:
    """Wrap backend calls only, never the caller's compute: its own errors must pass."""
    try:
        yield
    except BACKEND_ERRORS as error:
        raise BackendUnavailable from error


def describe(error: BaseException) -> str:
    """Exception class names only: messages may carry hosts or credentials."""
    names: list[str] = []
    current: BaseException | None = error
    while current is not None:
        if not isinstance(current, BackendUnavailable):
            names.append(type(current).__name__)
        current = current.__cause__
    return " <- ".join(names)


class BackendHealth:
    def __init__(
        self,
        *,
        retry_after_seconds: float,
        warn_every_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._retry_after = retry_after_seconds
        self._warn_every = warn_every_seconds
        self._clock = clock
        self._down_until = float("-inf")
        self._next_warning_at = float("-inf")
        self._failing = False

    def available(self) -> bool:
        """False for a while after a failure, so an outage does not cost every request a
        connection timeout."""
        return self._clock() >= self._down_until

    def record_failure(self, error: BaseException) -> None:
        now = self._clock()
        self._down_until = now + self._retry_after
        self._failing = True
        if now >= self._next_warning_at:
            self._next_warning_at = now + self._warn_every
            logger.warning(
                "cache backend unreachable, serving without the cache: %s", describe(error)
            )

    def record_success(self) -> None:
        if self._failing:
            self._failing = False
            logger.info("cache backend reachable again")
