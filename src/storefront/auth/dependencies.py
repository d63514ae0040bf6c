"""Who is calling: `CurrentUser`, `AdminUser` and `OptionalUser`.

The gate of every /api route (gate.py) identifies the caller once per request, outside
the request's unit of work: usually from memory (auth/identities.py), else with one read.
It never refuses a request for its credentials; `CurrentUser` and `AdminUser` do (401
without valid credentials, 403 for the wrong role), and `OptionalUser` does when
credentials are sent but invalid.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from storefront.auth import api_keys, service
from storefront.auth.errors import InvalidAccessToken, NotAuthenticated
from storefront.auth.identities import Principal, identities
from storefront.core.db import Database
from storefront.core.errors import Forbidden, Unauthorized
from storefront.users.models import Role

TOKEN_URL = "/api/v1/auth/token"
API_KEY_HEADER = "X-API-Key"

CALLER_SCOPE_KEY = "storefront.caller"

# Published in OpenAPI for the routes that need a user (and /docs' Authorize button): see
# RequireRole.openapi_security and core/openapi.py.
bearer_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    scheme_name="OAuth2Password",
    description="An access token from POST /api/v1/auth/token (e-mail and password).",
    auto_error=False,
)
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="APIKey",
    description="A key from POST /api/v1/auth/api-keys.",
    auto_error=False,
)


@dataclass(frozen=True, slots=True)
class Caller:
    user: Principal | None
    # Set when credentials were sent but are not valid.
    refusal: Unauthorized | None = None


ANONYMOUS = Caller(None)


async def identify_client(request: Request) -> Caller:
    headers = request.headers
    authorization = headers.get("authorization")
    api_key = headers.get("x-api-key")
    if not authorization and not api_key:
        return ANONYMOUS
    state = request.state
    settings = state.settings
    database: Database = state.database
    known = identities(database.invalidations)
    try:
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise InvalidAccessToken("Send the access token as: Authorization: Bearer <token>.")
            user = await service.authenticate_token(
                database.reads, known, settings=settings, token=token.strip()
            )
        else:
            user = await api_keys.authenticate(
                database, known, settings=settings, key=api_key or ""
            )
    except Unauthorized as refusal:
        return Caller(None, refusal)
    # The rate limiter's client from here on.
    request.state.user_id = str(user.id)
    return Caller(user)


def _user_of(connection: HTTPConnection) -> Principal | None:
    caller: Caller = connection.scope.get(CALLER_SCOPE_KEY, ANONYMOUS)
    if caller.refusal is not None:
        raise type(caller.refusal)(caller.refusal.detail)
    return caller.user


async def optional_user(request: Request) -> Principal | None:
    return _user_of(request)


class RequireRole:
    """A user with at least `role` (an admin has every role)."""

    # How OpenAPI says these routes are secured (core/openapi.py adds it to each one).
    openapi_security: tuple[Any, ...] = (bearer_scheme, api_key_scheme)

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, request: Request) -> Principal:
        user = _user_of(request)
        if user is None:
            raise NotAuthenticated()
        if self.role == Role.ADMIN and not user.is_admin:
            raise Forbidden("Only admins may do this.")
        return user


CurrentUser = Annotated[Principal, Depends(RequireRole(Role.USER))]
AdminUser = Annotated[Principal, Depends(RequireRole(Role.ADMIN))]
OptionalUser = Annotated[Principal | None, Depends(optional_user)]
