"""How long a runner holds a job, and the heartbeat that keeps holding it while it runs.

A claim holds a job for a short lease that its process renews every third of it, so a
process that dies lets go of its jobs within one lease however long their timeout; the
same heartbeat refreshes the stream messages the process holds (`JobStream.touch`), so
that another worker claims them only once the lease has expired.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs import repository

# A job cannot outlive its timeout, so a lease needs no longer than that (plus a margin);
# beyond this it is renewed instead, and a dead worker's jobs wait no longer than this.
MAX_LEASE_SECONDS = 15.0

logger = logging.getLogger("storefront.jobs")


@dataclass(frozen=True)
class Lease:
    seconds: float

    @property
    def renew_every(self) -> float:
        """Two renewals may fail (a slow database) before the lease runs out."""
        return self.seconds / 3

    @property
    def abandoned_after(self) -> float:
        """A held message untouched this long is claimed again: later than its job's lease
        runs out (renewed just before the message is touched), so the claim finds it free."""
        return self.seconds + self.renew_every


def lease_margin_seconds(settings: Settings) -> float:
    return max(1.0, settings.job_timeout_seconds * 0.1)


def lease_for(settings: Settings) -> Lease:
    return Lease(
        min(MAX_LEASE_SECONDS, settings.job_timeout_seconds + lease_margin_seconds(settings))
    )


class Leases:
    """The jobs this process is running (id → attempt), whose leases it renews."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self._held: dict[uuid.UUID, int] = {}

    @contextlib.contextmanager
    def hold(self, job_id: uuid.UUID, attempt: int) -> Iterator[None]:
        self._held[job_id] = attempt
        try:
            yield
        finally:
            self._held.pop(job_id, None)

    async def renew(self, database: Database) -> None:
        held = dict(self._held)
        if not held:
            return
        async with unit_of_work(database.sessionmaker) as session:
            renewed = await repository.renew_leases(
                session, held, lease=timedelta(seconds=self.lease.seconds)
            )
            missed = {job_id: held[job_id] for job_id in held.keys() - renewed}
            # Most have just finished; any other one outlived its lease (the database was
            # out of reach) and another runner took it: that run's outcome counts, not ours.
            lost = await repository.taken_over(session, missed) if missed else []
        for job_id in lost:
            logger.warning("job lease lost", extra={"job_id": str(job_id), "attempt": held[job_id]})


async def renew_forever(
    leases: Leases, database: Database, touch_messages: Callable[[], Awaitable[None]]
) -> None:
    """The heartbeat. The leases first: a message touched after its job's lease was renewed
    is never claimed again while that lease holds."""
    every = leases.lease.renew_every
    while True:
        await asyncio.sleep(every)
        await _renew("job leases", leases.renew(database), timeout=every)
        await _renew("job messages", touch_messages(), timeout=every)


async def _renew(what: str, renewal: Awaitable[None], *, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await renewal
    except Exception as error:  # the next beat tries again
        logger.warning("renewal failed", extra={"what": what, "error": type(error).__name__})
