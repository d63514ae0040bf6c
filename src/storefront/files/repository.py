"""SQL over files."""

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.files.models import File


async def get(session: AsyncSession, file_id: uuid.UUID) -> File | None:
    return await session.get(File, file_id)


def listed(*, owner_id: int | None) -> Select[File]:
    query = select(File)
    if owner_id is not None:
        query = query.where(File.owner_id == owner_id)
    return query.order_by(File.created_at.desc(), File.id)
