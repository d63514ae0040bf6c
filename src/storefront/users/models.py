"""Accounts: who can sign in, with which role."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from storefront.kit.models import Base, BigId, TimestampMixin, enum_column


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class User(TimestampMixin, Base):
    __tablename__ = "user"
    __table_args__ = (CheckConstraint("role IN ('user', 'admin')", name="role_known"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # As the user wrote it; `email_key` (case-folded) is what is unique and looked up.
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.USER)
    is_active: Mapped[bool] = mapped_column(default=True)
    # Raised when the password changes or the account is deactivated: every session
    # opened under an older value (its refresh tokens and access tokens) stops working.
    token_version: Mapped[int] = mapped_column(default=0)
    last_login_at: Mapped[datetime | None]

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def email_key(email: str) -> str:
    """The form in which two addresses are the same account: case-insensitive."""
    return email.strip().casefold()
