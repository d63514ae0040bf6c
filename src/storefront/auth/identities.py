"""Who is calling: the user behind a live session or an API key, kept in this process's
memory between requests.

An entry is forgotten, in every process, when its user changes in any way that matters to
an answer: a session ended (logout, a replayed refresh token), the password changed or was
reset, the account was deactivated or its role, name or address changed, a sign-in. The
process that makes the change forgets it before it answers; every other process within
`core.local_cache.TRUST_SECONDS` (published through the hub). Meanwhile the database is
the answer: one query by primary key.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.invalidation import Invalidations, invalidate_after_commit
from storefront.core.local_cache import LocalCache
from storefront.core.statements import Row
from storefront.users.models import Role

CACHE = "auth.identities"
TTL_SECONDS = 60.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user as of the request: read-only, never a password hash."""

    id: int
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @classmethod
    def of(cls, row: Row) -> "Principal":
        return cls(
            id=row["id"],
            email=row["email"],
            full_name=row["full_name"],
            role=Role(row["role"]),
            is_active=row["is_active"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            last_login_at=row["last_login_at"],
        )


def identities(invalidations: Invalidations) -> LocalCache[Any, Principal]:
    """Keyed by ("session", id) for access tokens and ("key", digest) for API keys."""
    return invalidations.cache(CACHE, ttl_seconds=TTL_SECONDS, max_entries=MAX_ENTRIES)


def user_tag(user_id: int) -> str:
    return f"user:{user_id}"


def forget_user_after_commit(session: AsyncSession, user_id: int) -> None:
    """Every process stops using what it knows of this user once the change commits."""
    invalidate_after_commit(session, CACHE, user_tag(user_id))
