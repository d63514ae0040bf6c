"""Item images: an admin uploads one (resized by a background job); anyone fetches the
renditions at the item's `image_url` and `thumbnail_url`."""

import uuid

from fastapi import Request, Response, status
from pydantic import BaseModel, Field

from storefront.auth.dependencies import AdminUser
from storefront.catalog import image_service
from storefront.catalog.dependencies import CurrentItem
from storefront.core.db import DbSession
from storefront.core.downloads import download_responses, inspect_object, object_response
from storefront.core.errors import NotFound
from storefront.core.problems import problem_responses
from storefront.core.ratelimit import RATE_LIMITED_RESPONSES
from storefront.core.storage import LocalStorage, Storage
from storefront.core.uploads import IMAGE_TYPES, JPEG, PNG, multipart_file_body, receive_upload
from storefront.core.uploads.sniffing import sniff
from storefront.jobs.dependencies import Queue
from storefront.jobs.models import JobStatus
from storefront.kit.routing import domain_router

router = domain_router(prefix="/api/v1", tags=["catalog"])
router.responses.update(RATE_LIMITED_RESPONSES)

RENDITION_TYPES = (JPEG, PNG)
# A new upload gets new keys (and so a new ETag): caches revalidate cheaply after this.
RENDITION_HEADERS = {"Cache-Control": "public, max-age=300"}


class ItemImageAccepted(BaseModel):
    item_id: int
    job_id: uuid.UUID = Field(description="The resize job; the item's URLs appear when done.")
    status: JobStatus


class ItemImageNotFound(NotFound):
    default_detail = "The item has no image yet."


@router.put(
    "/items/{item_id}/image",
    response_model=ItemImageAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=multipart_file_body(allowed=IMAGE_TYPES),
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422),
)
async def upload_item_image(
    request: Request,
    session: DbSession,
    _: AdminUser,
    item: CurrentItem,
    storage: Storage,
    queue: Queue,
) -> ItemImageAccepted:
    """Replace the item's image with a JPEG, PNG or WebP file. It is resized in the
    background (at most 1200 px, and a 200 px thumbnail); the current image, if any,
    stays until then."""
    max_bytes = request.state.settings.upload_max_bytes
    async with receive_upload(
        request, session, storage, max_bytes=max_bytes, allowed=IMAGE_TYPES
    ) as upload:
        job = await image_service.accept_upload(
            session, item.id, original_key=upload.key, queue=queue, storage=storage
        )
        # Inside the block: if the commit fails, the stored original is deleted again.
        await session.commit()
    return ItemImageAccepted(item_id=item.id, job_id=job.id, status=job.status)


@router.get(
    "/items/{item_id}/image",
    response_class=Response,
    responses={
        **download_responses(
            RENDITION_TYPES, description="At most 1200 px on its longest side.", attachment=False
        ),
        **problem_responses(404, 416, 422),
    },
)
async def get_item_image(request: Request, item: CurrentItem, storage: Storage) -> Response:
    return await _rendition(request, storage, item.image_key)


@router.get(
    "/items/{item_id}/thumbnail",
    response_class=Response,
    responses={
        **download_responses(
            RENDITION_TYPES, description="At most 200 px on its longest side.", attachment=False
        ),
        **problem_responses(404, 416, 422),
    },
)
async def get_item_thumbnail(request: Request, item: CurrentItem, storage: Storage) -> Response:
    return await _rendition(request, storage, item.thumbnail_key)


async def _rendition(request: Request, storage: LocalStorage, key: str | None) -> Response:
    if key is None:
        raise ItemImageNotFound()
    path = storage.path(key)
    info = await inspect_object(path)
    return await object_response(
        request,
        path,
        etag=key.replace("/", ""),
        media_type=sniff(info.head) or "application/octet-stream",
        headers=RENDITION_HEADERS,
        info=info,
    )
