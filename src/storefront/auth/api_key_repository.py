from datetime import datetime

from sqlalchemy import Select, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth.models import ApiKey
from storefront.core.statements import Row, Statements
from storefront.users.models import User


async def add(
    session: AsyncSession, *, user_id: int, name: str, prefix: str, key_hash: str
) -> ApiKey:
    api_key = ApiKey(user_id=user_id, name=name, prefix=prefix, key_hash=key_hash)
    session.add(api_key)
    await session.flush()
    return api_key


async def count_of_user(session: AsyncSession, user_id: int) -> int:
    count = await session.scalar(
        select(func.count()).select_from(ApiKey).where(ApiKey.user_id == user_id)
    )
    return count or 0


def listed(*, user_id: int) -> Select[ApiKey]:
    return select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)


async def delete_of_user(session: AsyncSession, key_id: int, *, user_id: int) -> bool:
    result = await session.execute(
        delete(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id)
    )
    return bool(getattr(result, "rowcount", 0))


_KEY_WITH_ACTIVE_USER = (
    select(
        ApiKey.id.label("key_id"),
        ApiKey.key_hash,
        ApiKey.last_used_at.label("key_last_used_at"),
        *User.__table__.columns,
    )
    .join(User, User.id == ApiKey.user_id)
    .where(ApiKey.prefix == bindparam("prefix"), User.is_active.is_(True))
)


async def read_with_active_user(reads: Statements, prefix: str) -> Row | None:
    """The key (`key_id`, `key_hash`, `key_last_used_at`) and its user's columns."""
    return await reads.one(_KEY_WITH_ACTIVE_USER, prefix=prefix)


async def touch(
    session: AsyncSession, key_id: int, *, now: datetime, stale_before: datetime
) -> None:
    """Record a use, unless a recent one is recorded already (concurrent requests too)."""
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale_before),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
