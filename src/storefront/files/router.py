"""Files: streamed uploads (sniffed, capped, hashed) and streamed, resumable downloads."""

from typing import Annotated, Any

from fastapi import Header, Request, Response, status

from storefront.auth.dependencies import CurrentUser
from storefront.core.db import DbSession
from storefront.core.downloads import content_disposition, download_responses, object_response
from storefront.core.problems import problem_responses
from storefront.core.ratelimit import RATE_LIMITED_RESPONSES
from storefront.core.storage import Storage
from storefront.core.uploads import JPEG, PDF, PNG, WEBP, multipart_file_body, receive_upload
from storefront.files import service
from storefront.files.dependencies import VisibleFile
from storefront.files.schemas import FileRead
from storefront.kit.pagination import Page, Pagination
from storefront.kit.routing import domain_router

router = domain_router(prefix="/api/v1", tags=["files"])
router.responses.update({**RATE_LIMITED_RESPONSES, **problem_responses(401)})

ALLOWED_TYPES = frozenset({JPEG, PNG, WEBP, PDF})
# The bytes are whatever a user uploaded: never rendered as a page of this origin.
DOWNLOAD_HEADERS = {
    "Cache-Control": "private, no-cache",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


@router.post(
    "/files",
    response_model=FileRead,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=multipart_file_body(allowed=ALLOWED_TYPES),
    responses=problem_responses(400, 413, 415, 422, 507),
)
async def upload_file(
    request: Request, session: DbSession, user: CurrentUser, storage: Storage, response: Response
) -> FileRead:
    """Store a JPEG, PNG, WebP or PDF file (recognised by its content) of at most
    UPLOAD_MAX_BYTES. 507 when the server's storage is full: nothing was kept, and the
    same upload can be retried later."""
    max_bytes = request.state.settings.upload_max_bytes
    async with receive_upload(
        request, session, storage, max_bytes=max_bytes, allowed=ALLOWED_TYPES
    ) as upload:
        file = await service.create(session, owner_id=user.id, upload=upload)
        # Inside the block: if the commit fails, the stored bytes are deleted again.
        await session.commit()
    response.headers["Location"] = f"/api/v1/files/{file.id}"
    return FileRead.model_validate(file)


@router.get("/files", response_model=Page[FileRead], responses=problem_responses(422))
async def list_files(session: DbSession, user: CurrentUser, pagination: Pagination) -> Any:
    """Your files, newest first (an admin sees everybody's)."""
    result = await service.list_files(
        session, user_id=user.id, is_admin=user.is_admin, params=pagination
    )
    return Page[FileRead].of(
        [FileRead.model_validate(file) for file in result.rows],
        total=result.total,
        params=pagination,
    )


@router.get("/files/{file_id}", response_model=FileRead, responses=problem_responses(404, 422))
async def get_file(file: VisibleFile) -> FileRead:
    return FileRead.model_validate(file)


@router.get(
    "/files/{file_id}/content",
    response_class=Response,
    responses={
        **download_responses(ALLOWED_TYPES, description="The whole content.", attachment=True),
        **problem_responses(404, 416, 422),
    },
)
async def download_file(
    request: Request,
    file: VisibleFile,
    storage: Storage,
    _range: Annotated[
        str | None, Header(alias="Range", description="One byte range, e.g. `bytes=0-1023`.")
    ] = None,
    _if_none_match: Annotated[
        str | None, Header(alias="If-None-Match", description="An ETag you have: 304 if current.")
    ] = None,
    _if_range: Annotated[
        str | None, Header(alias="If-Range", description="Range only if the ETag still matches.")
    ] = None,
) -> Response:
    """The content, streamed, as an attachment. One `Range` gives 206 (several ranges
    give the whole file); `If-None-Match` with the ETag (the SHA-256) gives 304."""
    return await object_response(
        request,
        storage.path(file.storage_key),
        etag=file.sha256,
        media_type=file.content_type,
        headers={**DOWNLOAD_HEADERS, "Content-Disposition": content_disposition(file.filename)},
    )


@router.delete(
    "/files/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 422),
)
async def delete_file(session: DbSession, file: VisibleFile, storage: Storage) -> None:
    await service.delete(session, file, storage=storage)
