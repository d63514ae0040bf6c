from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.statements import Row, Statements
from storefront.users.errors import EmailTaken
from storefront.users.models import Role, User, email_key

EMAIL_CONSTRAINT = "uq_user_email_key"


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


_BY_EMAIL = select(User.id, User.password_hash, User.is_active).where(
    User.email_key == bindparam("email_key")
)


async def read_credentials(reads: Statements, email: str) -> Row | None:
    """`id`, `password_hash` and `is_active` of the account of `email`."""
    return await reads.one(_BY_EMAIL, email_key=email_key(email))


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email_key == email_key(email)))


async def email_in_use(session: AsyncSession, email: str) -> bool:
    found = await session.scalar(select(User.id).where(User.email_key == email_key(email)))
    return found is not None


async def add(
    session: AsyncSession, *, email: str, full_name: str, password_hash: str, role: Role
) -> User:
    user = User(
        email=email,
        email_key=email_key(email),
        full_name=full_name,
        password_hash=password_hash,
        role=role,
    )
    session.add(user)
    await flush_unique_email(session)
    return user


async def flush_unique_email(session: AsyncSession) -> None:
    """Flush; a concurrent sign-up that took the address first makes it EmailTaken."""
    try:
        await session.flush()
    except IntegrityError as error:
        if EMAIL_CONSTRAINT in str(error.orig) or "user.email_key" in str(error.orig):
            raise EmailTaken() from error
        raise


def listed(*, q: str | None) -> Select[User]:
    query = select(User).order_by(User.id)
    if q:
        query = query.where(
            or_(
                User.email_key.contains(q.casefold(), autoescape=True),
                User.full_name.icontains(q, autoescape=True),
            )
        )
    return query
