from pydantic import BaseModel

from storefront.core.db import unit_of_work
from storefront.jobs.registry import JobContext, job
from storefront.orders import idempotency

PURGE_IDEMPOTENCY_RECORDS = "orders.purge_idempotency_records"


class NoPayload(BaseModel):
    pass


@job(PURGE_IDEMPOTENCY_RECORDS, NoPayload, every_seconds=3600.0)
async def purge_idempotency_records(context: JobContext, _: NoPayload) -> None:
    """Idempotency keys live 24 hours; their records go once they have expired."""
    async with unit_of_work(context.database.sessionmaker) as session:
        await idempotency.purge_expired(session)
