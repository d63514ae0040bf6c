"""Sessions: sign-in, refresh-token rotation with reuse detection, sign-out, and the
authentication of access tokens (also for WebSockets: `authenticate_token`)."""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth import repository, tokens
from storefront.auth.errors import (
    InvalidAccessToken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
)
from storefront.auth.identities import Principal, forget_user_after_commit, user_tag
from storefront.auth.schemas import TokenPair
from storefront.core.config import Settings
from storefront.core.local_cache import LocalCache
from storefront.core.security import PasswordHasher, new_secret, secret_digest
from storefront.core.statements import Statements
from storefront.kit.models import utc_now
from storefront.users import service as users_service

logger = logging.getLogger("storefront.auth")


async def login(
    session: AsyncSession,
    reads: Statements,
    *,
    email: str,
    password: str,
    settings: Settings,
    hasher: PasswordHasher,
) -> TokenPair:
    """A new session. Unknown address, wrong password and deactivated account are one
    answer, in about the same time: a password is checked in every case. The password is
    checked before the unit of work uses a connection, so that slow hashes (a flood of
    sign-ins) never hold the pool."""
    credentials = await users_service.read_credentials(reads, email)
    if credentials is None:
        await hasher.verify_decoy(password)
        raise InvalidCredentials()
    matches, rehashed = await hasher.verify_and_update(password, credentials["password_hash"])
    if not matches or not credentials["is_active"]:
        raise InvalidCredentials()
    user = await users_service.find(session, credentials["id"])
    if user is None or user.password_hash != credentials["password_hash"] or not user.is_active:
        raise InvalidCredentials()  # changed meanwhile: the password checked is not its own
    await users_service.record_login(session, user, rehashed=rehashed)
    now = utc_now()
    await repository.purge_expired_sessions(session, user.id, now=now)
    auth_session = await repository.add_session(
        session,
        user_id=user.id,
        token_version=user.token_version,
        expires_at=_refresh_expiry(settings, now),
    )
    return await _issue(session, settings, user_id=user.id, session_id=auth_session.id, now=now)


async def refresh(session: AsyncSession, *, refresh_token: str, settings: Settings) -> TokenPair:
    """Exchange a refresh token for a new pair; the old one is spent.

    Raises RefreshTokenReused, after ending the session, when the token was spent
    already: the caller must commit before answering so that the ending stands.
    """
    found = await repository.find_refresh_token(session, secret_digest(refresh_token))
    if found is None:
        raise InvalidRefreshToken()
    token, auth_session, user = found
    now = utc_now()
    if auth_session.revoked_at is not None:
        raise InvalidRefreshToken()
    if token.used_at is not None:
        await _end_for_reuse(session, auth_session.id, user_id=user.id, now=now)
        raise RefreshTokenReused()
    if (
        token.expires_at <= now
        or not user.is_active
        or auth_session.token_version != user.token_version
    ):
        raise InvalidRefreshToken()
    if not await repository.spend_refresh_token(session, token.id, now=now):
        # Spent by a concurrent request since it was read: a replay all the same.
        await _end_for_reuse(session, auth_session.id, user_id=user.id, now=now)
        raise RefreshTokenReused()
    expires_at = _refresh_expiry(settings, now)
    await repository.extend_session(session, auth_session.id, expires_at=expires_at, now=now)
    return await _issue(session, settings, user_id=user.id, session_id=auth_session.id, now=now)


async def logout(session: AsyncSession, *, refresh_token: str) -> None:
    """End the session of `refresh_token`, spent or not; an unknown token is no error."""
    found = await repository.find_refresh_token(session, secret_digest(refresh_token))
    if found is not None:
        await repository.revoke_session(session, found[1].id, now=utc_now())
        forget_user_after_commit(session, found[2].id)


async def authenticate_token(
    reads: Statements, known: LocalCache[Any, Principal], *, settings: Settings, token: str
) -> Principal:
    """The user of a valid access token of a live session: from `known` (see
    auth/identities.py), else one query by primary key."""
    try:
        claims = tokens.token_codec(settings).verify(token)
    except tokens.InvalidAccessToken as error:
        raise InvalidAccessToken() from error
    key = ("session", claims.session_id)
    principal = known.get(key)
    if principal is not None and principal.id == claims.user_id:
        return principal
    stamp = known.stamp()
    row = await repository.read_session_user(
        reads, session_id=claims.session_id, user_id=claims.user_id
    )
    if row is None:
        raise InvalidAccessToken()
    principal = Principal.of(row)
    known.put(key, principal, stamp=stamp, tags=[user_tag(principal.id)])
    return principal


def _refresh_expiry(settings: Settings, now: datetime) -> datetime:
    return now + timedelta(seconds=settings.refresh_token_ttl_seconds)


async def _issue(
    session: AsyncSession,
    settings: Settings,
    *,
    user_id: int,
    session_id: uuid.UUID,
    now: datetime,
) -> TokenPair:
    refresh_token = new_secret()
    await repository.add_refresh_token(
        session,
        session_id=session_id,
        token_hash=secret_digest(refresh_token),
        created_at=now,
        expires_at=_refresh_expiry(settings, now),
    )
    access = tokens.token_codec(settings).issue(user_id=user_id, session_id=session_id)
    return TokenPair(
        access_token=access.token,
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl_seconds,
    )


async def _end_for_reuse(
    session: AsyncSession, session_id: uuid.UUID, *, user_id: int, now: datetime
) -> None:
    # Either the owner or a thief replayed it; which one cannot be known, so both lose it.
    logger.warning(
        "refresh token reused: session ended",
        extra={"user_id": user_id, "session_id": str(session_id)},
    )
    await repository.revoke_session(session, session_id, now=now)
    forget_user_after_commit(session, user_id)
