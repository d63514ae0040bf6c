"""SQL of sessions, refresh tokens and password reset tokens.

Authentication joins `user` on purpose: a request is authenticated with one query by
primary key (session and user), never one per table.
"""

import uuid
from datetime import datetime

from sqlalchemy import CursorResult, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth.models import AuthSession, PasswordResetToken, RefreshToken
from storefront.core.statements import Row, Statements
from storefront.users.models import User

_SESSION_USER = (
    select(User)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(
        AuthSession.id == bindparam("session_id"),
        User.id == bindparam("user_id"),
        AuthSession.revoked_at.is_(None),
        AuthSession.token_version == User.token_version,
        User.is_active.is_(True),
    )
)


async def read_session_user(
    reads: Statements, *, session_id: uuid.UUID, user_id: int
) -> Row | None:
    """The user of a live session: not revoked, not outdated, the account active."""
    return await reads.one(_SESSION_USER, session_id=session_id, user_id=user_id)


async def add_session(
    session: AsyncSession, *, user_id: int, token_version: int, expires_at: datetime
) -> AuthSession:
    auth_session = AuthSession(
        id=uuid.uuid4(), user_id=user_id, token_version=token_version, expires_at=expires_at
    )
    session.add(auth_session)
    await session.flush()
    return auth_session


async def add_refresh_token(
    session: AsyncSession,
    *,
    session_id: uuid.UUID,
    token_hash: str,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    session.add(
        RefreshToken(
            session_id=session_id,
            token_hash=token_hash,
            created_at=created_at,
            expires_at=expires_at,
        )
    )
    await session.flush()


async def find_refresh_token(
    session: AsyncSession, token_hash: str
) -> tuple[RefreshToken, AuthSession, User] | None:
    row = (
        await session.execute(
            select(RefreshToken, AuthSession, User)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .join(User, User.id == AuthSession.user_id)
            .where(RefreshToken.token_hash == token_hash)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


async def spend_refresh_token(session: AsyncSession, token_id: int, *, now: datetime) -> bool:
    """Mark the token used; False when another request spent it first."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _count(result) == 1


async def revoke_session(session: AsyncSession, session_id: uuid.UUID, *, now: datetime) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def extend_session(
    session: AsyncSession, session_id: uuid.UUID, *, expires_at: datetime, now: datetime
) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id)
        .values(expires_at=expires_at, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    # Expired tokens can no longer be exchanged: their rows only take room.
    await session.execute(
        delete(RefreshToken).where(
            RefreshToken.session_id == session_id, RefreshToken.expires_at < now
        )
    )


async def purge_expired_sessions(session: AsyncSession, user_id: int, *, now: datetime) -> None:
    """Sessions past their last refresh token's expiry, with their tokens (cascade)."""
    await session.execute(
        delete(AuthSession).where(AuthSession.user_id == user_id, AuthSession.expires_at < now)
    )


async def add_reset_token(
    session: AsyncSession, *, user_id: int, token_hash: str, expires_at: datetime, now: datetime
) -> None:
    await session.execute(
        delete(PasswordResetToken).where(
            PasswordResetToken.user_id == user_id, PasswordResetToken.expires_at < now
        )
    )
    session.add(
        PasswordResetToken(
            user_id=user_id, token_hash=token_hash, created_at=now, expires_at=expires_at
        )
    )
    await session.flush()


async def find_reset_token(session: AsyncSession, token_hash: str) -> PasswordResetToken | None:
    return await session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == token_hash)
    )


async def spend_reset_token(session: AsyncSession, token_id: int, *, now: datetime) -> bool:
    """Mark the token used; False when another request used it first."""
    result = await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == token_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _count(result) == 1


async def spend_reset_tokens(session: AsyncSession, user_id: int, *, now: datetime) -> int:
    """Use up every open reset token of the user; how many there were."""
    result = await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _count(result)


def _count(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0
