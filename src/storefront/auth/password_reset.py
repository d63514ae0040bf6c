"""Password reset by e-mail: a random single-use token, stored as a digest, for one hour."""

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth import repository
from storefront.auth.errors import InvalidResetToken
from storefront.core.config import Settings
from storefront.core.security import PasswordHasher, new_secret, secret_digest
from storefront.jobs.queue import JobQueue
from storefront.kit.models import utc_now
from storefront.mail import service as mail_service
from storefront.users import service as users_service


async def request_reset(
    session: AsyncSession, *, email: str, settings: Settings, queue: JobQueue
) -> None:
    """Mail a reset token if an active account has this address; the caller cannot tell."""
    user = await users_service.get_by_email(session, email)
    if user is None or not user.is_active:
        return
    token = new_secret()
    now = utc_now()
    await repository.add_reset_token(
        session,
        user_id=user.id,
        token_hash=secret_digest(token),
        expires_at=now + timedelta(seconds=settings.password_reset_ttl_seconds),
        now=now,
    )
    await mail_service.send(
        session, queue=queue, to=user.email, template="password_reset", context={"token": token}
    )


async def confirm_reset(
    session: AsyncSession, *, token: str, new_password: str, hasher: PasswordHasher
) -> None:
    """Set the new password; every session of the account ends, and every other open
    reset token is used up with this one."""
    reset = await repository.find_reset_token(session, secret_digest(token))
    now = utc_now()
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        raise InvalidResetToken()
    user = await users_service.get(session, reset.user_id)
    if not user.is_active or not await repository.spend_reset_token(session, reset.id, now=now):
        raise InvalidResetToken()
    await repository.spend_reset_tokens(session, user.id, now=now)
    await users_service.set_password(session, user, password=new_password, hasher=hasher)
