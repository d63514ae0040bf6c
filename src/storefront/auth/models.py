"""Sessions with their rotating refresh tokens, password reset tokens and API keys.

Of every secret only a SHA-256 digest is stored: a leaked table opens no account.
"""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storefront.kit.models import Base, BigId, TimestampMixin, utc_now

DIGEST_LENGTH = 64


class AuthSession(TimestampMixin, Base):
    """One sign-in: a family of refresh tokens, each spent by the next, and the access
    tokens issued along the way (they carry its id). Revoking it ends them all."""

    __tablename__ = "auth_session"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    # The user's token version at sign-in: a password change or a deactivation raises
    # the user's, which ends this session without touching it.
    token_version: Mapped[int]
    # When its newest refresh token expires: past that, the session is only history.
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class RefreshToken(Base):
    __tablename__ = "refresh_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_session.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime]
    # Set when the token is exchanged: presenting it again is a replay.
    used_at: Mapped[datetime | None]


class PasswordResetToken(Base):
    __tablename__ = "password_reset_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ApiKey(TimestampMixin, Base):
    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # Public part of the key, shown in lists and used to find it; the rest is secret.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(DIGEST_LENGTH))
    last_used_at: Mapped[datetime | None]
