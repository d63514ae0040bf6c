from typing import Annotated

from fastapi import Query, Request, status

from storefront.auth.dependencies import AdminUser, CurrentUser
from storefront.core.db import DbSession
from storefront.core.problems import problem_responses
from storefront.core.ratelimit import RATE_LIMITED_RESPONSES, check_login_rate
from storefront.core.security import Passwords
from storefront.jobs.dependencies import Queue
from storefront.kit.pagination import Page, Pagination
from storefront.kit.routing import domain_router
from storefront.users import service
from storefront.users.dependencies import CurrentAccount, ManagedUser
from storefront.users.schemas import (
    PasswordChange,
    UserAccessUpdate,
    UserCreate,
    UserProfileUpdate,
    UserRead,
)

router = domain_router(prefix="/api/v1", tags=["users"])
router.responses.update(RATE_LIMITED_RESPONSES)

SearchText = Annotated[
    str | None,
    Query(min_length=1, max_length=254, description="Part of the e-mail address or name."),
]


@router.post(
    "/users",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422, 503),
)
async def create_user(
    passwords: Passwords, session: DbSession, data: UserCreate, queue: Queue
) -> UserRead:
    user = await service.sign_up(session, data=data, hasher=passwords, queue=queue)
    return UserRead.model_validate(user)


@router.get("/users/me", response_model=UserRead, responses=problem_responses(401))
async def get_current_user(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.patch("/users/me", response_model=UserRead, responses=problem_responses(401, 409, 422))
async def update_current_user(
    session: DbSession, user: CurrentAccount, data: UserProfileUpdate
) -> UserRead:
    return UserRead.model_validate(await service.update_profile(session, user, data=data))


@router.post(
    "/users/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 401, 422, 503),
)
async def change_password(
    request: Request,
    user: CurrentAccount,
    passwords: Passwords,
    session: DbSession,
    data: PasswordChange,
) -> None:
    """Every access and refresh token of the account stops working, this one's included."""
    # Guessing the current password with a stolen token is throttled like signing in.
    await check_login_rate(request, account=user.email)
    await service.change_password(
        session,
        user,
        current_password=data.current_password,
        new_password=data.new_password,
        hasher=passwords,
    )


@router.get("/users", response_model=Page[UserRead], responses=problem_responses(401, 403, 422))
async def list_users(
    session: DbSession, _: AdminUser, pagination: Pagination, q: SearchText = None
) -> Page[UserRead]:
    result = await service.list_users(session, q=q, params=pagination)
    return Page[UserRead].of(
        [UserRead.model_validate(user) for user in result.rows],
        total=result.total,
        params=pagination,
    )


@router.get(
    "/users/{user_id}", response_model=UserRead, responses=problem_responses(401, 403, 404, 422)
)
async def get_user(user: ManagedUser) -> UserRead:
    return UserRead.model_validate(user)


@router.patch(
    "/users/{user_id}",
    response_model=UserRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_user(
    session: DbSession, admin: AdminUser, user: ManagedUser, data: UserAccessUpdate
) -> UserRead:
    """Change a user's role or deactivate them: a deactivated user's tokens and keys stop
    working at once."""
    return UserRead.model_validate(
        await service.update_access(session, user, actor_id=admin.id, data=data)
    )
