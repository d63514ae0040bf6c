"""The resize job: renditions of an uploaded item image, made in a worker thread."""

from collections.abc import AsyncIterator

import anyio

from storefront.catalog import image_service
from storefront.catalog.image_service import RESIZE_IMAGE, ResizeImage
from storefront.core.db import unit_of_work
from storefront.core.storage import LocalStorage, StorageFull, create_storage
from storefront.jobs.registry import JobContext, PermanentJobError, job


class Superseded(Exception):
    """A newer upload replaced this one (or the item is gone): nothing left to do."""


@job(RESIZE_IMAGE, ResizeImage, max_attempts=3, timeout_seconds=120.0)
async def resize_image(context: JobContext, payload: ResizeImage) -> None:
    storage = create_storage(context.settings)
    try:
        await _render_and_apply(context, storage, payload)
    except Superseded:
        return
    except PermanentJobError:
        await _abandon(context, storage, payload)
        raise
    except StorageFull:
        # Not the upload's fault: the original stays, and the next upload (or a retry of
        # this job once there is room) renders it.
        raise
    except Exception:
        # Out of attempts: the original would otherwise stay on disk, referenced forever.
        if context.is_last_attempt:
            await _abandon(context, storage, payload)
        raise


async def _render_and_apply(
    context: JobContext, storage: LocalStorage, payload: ResizeImage
) -> None:
    # Imported here: Pillow, which an API process whose jobs run in workers never needs.
    from storefront.catalog.image_processing import UnreadableImage, render

    source = await _read_original(context, storage, payload)
    try:
        renditions = await anyio.to_thread.run_sync(render, source)
    except UnreadableImage as error:
        raise PermanentJobError(str(error)) from error
    image = await storage.save(_once(renditions.image.data))
    thumbnail = await storage.save(_once(renditions.thumbnail.data))
    try:
        async with unit_of_work(context.database.sessionmaker) as session:
            unreferenced = await image_service.apply(
                session,
                item_id=payload.item_id,
                original_key=payload.original_key,
                image_key=image.key,
                thumbnail_key=thumbnail.key,
            )
    except BaseException:
        with anyio.CancelScope(shield=True):
            await storage.delete(image.key)
            await storage.delete(thumbnail.key)
        raise
    for key in unreferenced:
        await storage.delete(key)


async def _read_original(context: JobContext, storage: LocalStorage, payload: ResizeImage) -> bytes:
    try:
        # Bounded by UPLOAD_MAX_BYTES; Pillow wants it whole anyway.
        return await anyio.to_thread.run_sync(storage.path(payload.original_key).read_bytes)
    except FileNotFoundError:
        pass
    async with unit_of_work(context.database.sessionmaker) as session:
        current = await image_service.is_current(
            session, item_id=payload.item_id, original_key=payload.original_key
        )
    if not current:
        raise Superseded()  # the newer upload deleted this original
    raise PermanentJobError("The uploaded original is missing from storage.")


async def _abandon(context: JobContext, storage: LocalStorage, payload: ResizeImage) -> None:
    async with unit_of_work(context.database.sessionmaker) as session:
        await image_service.abandon(
            session, item_id=payload.item_id, original_key=payload.original_key
        )
    await storage.delete(payload.original_key)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
