import uuid
from typing import Annotated

from fastapi import Depends, Path

from storefront.auth.dependencies import CurrentUser
from storefront.core.db import DbSession
from storefront.files import service
from storefront.files.models import File

FileId = Annotated[uuid.UUID, Path()]


async def load_visible_file(session: DbSession, user: CurrentUser, file_id: FileId) -> File:
    return await service.get_visible(session, file_id, user_id=user.id, is_admin=user.is_admin)


VisibleFile = Annotated[File, Depends(load_visible_file)]
