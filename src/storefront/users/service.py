from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth.identities import forget_user_after_commit
from storefront.core.security import PasswordHasher
from storefront.core.statements import Row, Statements
from storefront.jobs.queue import JobQueue
from storefront.kit.models import utc_now
from storefront.kit.pagination import PageParams, PageResult, fetch_page
from storefront.mail import service as mail_service
from storefront.users import repository
from storefront.users.errors import EmailTaken, OwnAccessUnchangeable, UserNotFound, WrongPassword
from storefront.users.models import Role, User, email_key
from storefront.users.schemas import UserAccessUpdate, UserCreate, UserProfileUpdate


async def create(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    full_name: str,
    role: Role,
    hasher: PasswordHasher,
) -> User:
    # Checked first so that a taken address costs no hashing; the unique constraint
    # still decides between concurrent sign-ups.
    if await repository.email_in_use(session, email):
        raise EmailTaken()
    password_hash = await hasher.hash(password)
    return await repository.add(
        session, email=email, full_name=full_name, password_hash=password_hash, role=role
    )


async def sign_up(
    session: AsyncSession, *, data: UserCreate, hasher: PasswordHasher, queue: JobQueue
) -> User:
    user = await create(
        session,
        email=data.email,
        password=data.password,
        full_name=data.full_name,
        role=Role.USER,
        hasher=hasher,
    )
    await mail_service.send(
        session,
        queue=queue,
        to=user.email,
        template="welcome",
        context={"full_name": user.full_name},
    )
    return user


async def get(session: AsyncSession, user_id: int) -> User:
    user = await repository.get(session, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def find(session: AsyncSession, user_id: int) -> User | None:
    return await repository.get(session, user_id)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return await repository.get_by_email(session, email)


async def read_credentials(reads: Statements, email: str) -> Row | None:
    """What checking a password needs (`id`, `password_hash`, `is_active`), read outside
    any unit of work: nobody holds a database connection while a hash is computed."""
    return await repository.read_credentials(reads, email)


async def list_users(
    session: AsyncSession, *, q: str | None, params: PageParams
) -> PageResult[User]:
    return await fetch_page(session, repository.listed(q=q), params)


async def update_profile(session: AsyncSession, user: User, *, data: UserProfileUpdate) -> User:
    if data.full_name is not None:
        user.full_name = data.full_name
    if data.email is not None and data.email != user.email:
        if email_key(data.email) != user.email_key and await repository.email_in_use(
            session, data.email
        ):
            raise EmailTaken()
        user.email = data.email
        user.email_key = email_key(data.email)
    await repository.flush_unique_email(session)
    forget_user_after_commit(session, user.id)
    return user


def end_sessions(session: AsyncSession, user: User) -> None:
    """Every session of the user (refresh and access tokens alike) stops working."""
    user.token_version += 1
    forget_user_after_commit(session, user.id)


async def change_password(
    session: AsyncSession,
    user: User,
    *,
    current_password: str,
    new_password: str,
    hasher: PasswordHasher,
) -> None:
    matches, _ = await hasher.verify_and_update(current_password, user.password_hash)
    if not matches:
        raise WrongPassword()
    await set_password(session, user, password=new_password, hasher=hasher)


async def set_password(
    session: AsyncSession, user: User, *, password: str, hasher: PasswordHasher
) -> None:
    user.password_hash = await hasher.hash(password)
    end_sessions(session, user)
    await session.flush()


async def record_login(session: AsyncSession, user: User, *, rehashed: str | None) -> None:
    """A successful sign-in; `rehashed` replaces a hash made with older parameters."""
    user.last_login_at = utc_now()
    if rehashed is not None:
        user.password_hash = rehashed
    await session.flush()
    forget_user_after_commit(session, user.id)


async def update_access(
    session: AsyncSession, user: User, *, actor_id: int, data: UserAccessUpdate
) -> User:
    demoted = data.role is not None and data.role != Role.ADMIN
    if user.id == actor_id and (demoted or data.is_active is False):
        # An admin locking themselves out could leave nobody to undo it.
        raise OwnAccessUnchangeable()
    if data.role is not None:
        user.role = data.role
    if data.is_active is not None and data.is_active != user.is_active:
        user.is_active = data.is_active
        if not data.is_active:
            end_sessions(session, user)
    await session.flush()
    forget_user_after_commit(session, user.id)
    return user
