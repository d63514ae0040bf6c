from typing import Annotated

from fastapi import Depends, Path

from storefront.auth.dependencies import AdminUser, CurrentUser
from storefront.core.db import DbSession
from storefront.users import service
from storefront.users.models import User

UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def load_managed_user(session: DbSession, _: AdminUser, user_id: UserId) -> User:
    # Admin first: a 404 for someone who may not ask would tell which ids exist.
    return await service.get(session, user_id)


ManagedUser = Annotated[User, Depends(load_managed_user)]


async def load_current_account(session: DbSession, user: CurrentUser) -> User:
    """The caller's own account, in the request's unit of work: for routes that change it."""
    return await service.get(session, user.id)


CurrentAccount = Annotated[User, Depends(load_current_account)]
