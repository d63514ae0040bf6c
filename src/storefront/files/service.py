"""File rules: owners (and admins) see their files; the bytes go when the row does."""

import uuid
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.db import after_commit
from storefront.core.storage import LocalStorage
from storefront.core.uploads import Upload
from storefront.files import repository
from storefront.files.errors import FileNotFound
from storefront.files.models import File
from storefront.kit.pagination import PageParams, PageResult, fetch_page


async def create(session: AsyncSession, *, owner_id: int, upload: Upload) -> File:
    file = File(
        owner_id=owner_id,
        filename=upload.filename,
        content_type=upload.media_type,
        size=upload.size,
        sha256=upload.sha256,
        storage_key=upload.key,
    )
    session.add(file)
    await session.flush()
    return file


async def get_visible(
    session: AsyncSession, file_id: uuid.UUID, *, user_id: int, is_admin: bool
) -> File:
    """Somebody else's file is as absent as a missing one: no existence leak."""
    file = await repository.get(session, file_id)
    if file is None or (file.owner_id != user_id and not is_admin):
        raise FileNotFound()
    return file


async def list_files(
    session: AsyncSession, *, user_id: int, is_admin: bool, params: PageParams
) -> PageResult[File]:
    query = repository.listed(owner_id=None if is_admin else user_id)
    return await fetch_page(session, query, params)


async def delete(session: AsyncSession, file: File, *, storage: LocalStorage) -> None:
    await session.delete(file)
    await session.flush()
    # Only once the row is gone for good: a rollback must not leave a row without bytes.
    after_commit(session, partial(storage.delete, file.storage_key))
