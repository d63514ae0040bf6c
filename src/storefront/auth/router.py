from typing import Annotated

from fastapi import Form, Path, Request, Response, status

from storefront.auth import api_keys, password_reset, service
from storefront.auth.dependencies import CurrentUser
from storefront.auth.errors import RefreshTokenReused
from storefront.auth.schemas import (
    Accepted,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    LogoutRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    TokenForm,
    TokenPair,
)
from storefront.core.db import DbSession
from storefront.core.problems import problem_responses
from storefront.core.ratelimit import RATE_LIMITED_RESPONSES, check_login_rate
from storefront.core.security import Passwords
from storefront.jobs.dependencies import Queue
from storefront.kit.pagination import Page, Pagination
from storefront.kit.routing import domain_router

router = domain_router(prefix="/api/v1/auth", tags=["auth"])
router.responses.update(RATE_LIMITED_RESPONSES)

ApiKeyId = Annotated[int, Path(ge=1, le=2**63 - 1)]
RESET_ACCEPTED = "If an account has this address, a link to reset its password is on its way."


def _no_store(response: Response) -> None:
    # RFC 6749 §5.1: responses carrying tokens must not be cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


@router.post("/token", response_model=TokenPair, responses=problem_responses(401, 422, 503))
async def create_token(
    request: Request,
    response: Response,
    passwords: Passwords,
    session: DbSession,
    form: Annotated[TokenForm, Form()],
) -> TokenPair:
    """Sign in with the OAuth2 password grant: `username` is the e-mail address."""
    await check_login_rate(request, account=form.username)
    pair = await service.login(
        session,
        request.state.database.reads,
        email=form.username,
        password=form.password,
        settings=request.state.settings,
        hasher=passwords,
    )
    _no_store(response)
    return pair


@router.post("/refresh", response_model=TokenPair, responses=problem_responses(401, 422))
async def refresh_token(
    request: Request, response: Response, session: DbSession, data: RefreshRequest
) -> TokenPair:
    """A new pair for a refresh token, which is spent. Presenting a spent one ends its
    whole session (every token issued from the same sign-in)."""
    try:
        pair = await service.refresh(
            session, refresh_token=data.refresh_token, settings=request.state.settings
        )
    except RefreshTokenReused:
        # The session's ending must stand although this request fails.
        await session.commit()
        raise
    _no_store(response)
    return pair


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(422))
async def revoke_token(session: DbSession, data: LogoutRequest) -> None:
    """End the session of this refresh token: its refresh and access tokens stop working."""
    await service.logout(session, refresh_token=data.refresh_token)


@router.post(
    "/password-reset",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(422),
)
async def request_password_reset(
    request: Request, session: DbSession, data: PasswordResetRequest, queue: Queue
) -> Accepted:
    await check_login_rate(request, account=data.email)
    await password_reset.request_reset(
        session, email=data.email, settings=request.state.settings, queue=queue
    )
    return Accepted(detail=RESET_ACCEPTED)


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 422, 503),
)
async def confirm_password_reset(
    passwords: Passwords, session: DbSession, data: PasswordResetConfirm
) -> None:
    """Set a new password with the mailed token; every session of the account ends."""
    await password_reset.confirm_reset(
        session, token=data.token, new_password=data.new_password, hasher=passwords
    )


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 409, 422),
)
async def create_api_key(
    session: DbSession, user: CurrentUser, data: ApiKeyCreate
) -> ApiKeyCreated:
    """The response holds the whole key, once: only a digest of it is kept."""
    api_key, key = await api_keys.create(session, user, name=data.name)
    return ApiKeyCreated(
        id=api_key.id,
        name=api_key.name,
        prefix=api_key.prefix,
        created_at=api_key.created_at,
        last_used_at=api_key.last_used_at,
        key=key,
    )


@router.get("/api-keys", response_model=Page[ApiKeyRead], responses=problem_responses(401, 422))
async def list_api_keys(
    session: DbSession, user: CurrentUser, pagination: Pagination
) -> Page[ApiKeyRead]:
    result = await api_keys.list_api_keys(session, user, params=pagination)
    return Page[ApiKeyRead].of(
        [ApiKeyRead.model_validate(key) for key in result.rows],
        total=result.total,
        params=pagination,
    )


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 422),
)
async def delete_api_key(session: DbSession, user: CurrentUser, key_id: ApiKeyId) -> None:
    await api_keys.delete(session, user, key_id=key_id)
