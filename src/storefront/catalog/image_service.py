"""An item's image: the uploaded original, and the renditions served once resized.

An upload records its original on the item and enqueues a resize job. The job applies
its renditions only if its original is still the item's latest, so when uploads race,
the last one wins whatever order their jobs finish in. Superseded objects are deleted.
"""

from functools import partial

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.catalog import repository
from storefront.catalog.errors import ItemNotFound
from storefront.core.db import after_commit
from storefront.core.storage import LocalStorage
from storefront.jobs import service as jobs_service
from storefront.jobs.models import Job
from storefront.jobs.queue import JobQueue

RESIZE_IMAGE = "catalog.resize_image"


class ResizeImage(BaseModel):
    item_id: int
    original_key: str


async def accept_upload(
    session: AsyncSession,
    item_id: int,
    *,
    original_key: str,
    queue: JobQueue,
    storage: LocalStorage,
) -> Job:
    # Read again under a lock: the item may have changed (or gone) while the body streamed.
    item = await repository.get(session, item_id, lock=True)
    if item is None:
        raise ItemNotFound()
    previous = item.image_original_key
    item.image_original_key = original_key
    await session.flush()
    if previous is not None:
        # Its renditions (if any) stay served until the new ones replace them.
        after_commit(session, partial(storage.delete, previous))
    payload = ResizeImage(item_id=item.id, original_key=original_key)
    return await jobs_service.enqueue(session, queue=queue, name=RESIZE_IMAGE, payload=payload)


async def is_current(session: AsyncSession, *, item_id: int, original_key: str) -> bool:
    item = await repository.get(session, item_id, fresh=True)
    return item is not None and item.image_original_key == original_key


async def apply(
    session: AsyncSession, *, item_id: int, original_key: str, image_key: str, thumbnail_key: str
) -> list[str]:
    """Serve the new renditions if `original_key` is still the latest upload. Returns the
    keys nobody refers to any more, to delete once this has committed."""
    item = await repository.get(session, item_id, lock=True)
    if item is None or item.image_original_key != original_key:
        return [image_key, thumbnail_key, original_key]
    replaced = [key for key in (item.image_key, item.thumbnail_key) if key is not None]
    item.image_key = image_key
    item.thumbnail_key = thumbnail_key
    return replaced


async def abandon(session: AsyncSession, *, item_id: int, original_key: str) -> None:
    """Forget an original that cannot be rendered; the item keeps what it served."""
    item = await repository.get(session, item_id, lock=True)
    if item is not None and item.image_original_key == original_key:
        item.image_original_key = None
