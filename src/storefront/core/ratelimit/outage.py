"""Failing open: while the limiter's storage is down, requests go through unlimited.

A down Redis must not take the API with it, nor flood the log, nor make every request
wait for a connect timeout: after a failure the storage is left alone for a moment, then
one request probes it while the others keep going through.
"""

import logging
import time
from collections.abc import Callable

logger = logging.getLogger("storefront.ratelimit")

STORAGE_RETRY_SECONDS = 1.0
WARNING_INTERVAL_SECONDS = 60.0


class StorageOutage:
    def __init__(
        self,
        *,
        retry_seconds: float = STORAGE_RETRY_SECONDS,
        warning_interval_seconds: float = WARNING_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry_seconds = retry_seconds
        self.warning_interval_seconds = warning_interval_seconds
        self._clock = clock
        self._failing = False
        self._probe_at = 0.0
        self._warned_at: float | None = None
        self._warned_this_outage = False
        self._unreported_failures = 0

    @property
    def failing(self) -> bool:
        return self._failing

    def should_skip_storage(self) -> bool:
        if not self._failing:
            return False
        now = self._clock()
        if now < self._probe_at:
            return True
        # This caller probes; the ones arriving meanwhile skip until it has an answer.
        self._probe_at = now + self.retry_seconds
        return False

    def record_failure(self, error: BaseException) -> None:
        now = self._clock()
        self._failing = True
        self._probe_at = now + self.retry_seconds
        if self._warned_at is not None and now - self._warned_at < self.warning_interval_seconds:
            self._unreported_failures += 1
            return
        # The error's type only: its message can carry the storage's address or URL.
        logger.warning(
            "rate limiter storage unavailable (%s): requests pass unlimited; "
            "%d more failures since the last warning",
            type(error).__name__,
            self._unreported_failures,
        )
        self._warned_at = now
        self._warned_this_outage = True
        self._unreported_failures = 0

    def record_success(self) -> None:
        if not self._failing:
            return
        self._failing = False
        # Recoveries are told only for outages that were: a flapping storage stays quiet.
        if self._warned_this_outage:
            logger.info("rate limiter storage reachable again: limits apply")
        self._warned_this_outage = False
