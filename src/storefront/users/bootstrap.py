"""Admins made outside the API: the first one at start-up, more with `storefront create-admin`."""

import logging

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.core.security import new_secret, password_hasher
from storefront.users import repository, service
from storefront.users.errors import EmailTaken
from storefront.users.models import Role, User
from storefront.users.schemas import UserCreate

FIRST_ADMIN_NAME = "Administrator"

logger = logging.getLogger("storefront.users")


async def create_admin(
    database: Database, settings: Settings, *, email: str, password: str, full_name: str
) -> User:
    """Raises ValidationError for an unacceptable address, password or name, and
    EmailTaken when the address has an account already."""
    data = UserCreate(email=email, password=password, full_name=full_name)
    async with unit_of_work(database.sessionmaker) as session:
        return await service.create(
            session,
            email=data.email,
            password=data.password,
            full_name=data.full_name,
            role=Role.ADMIN,
            hasher=password_hasher(settings),
        )


async def ensure_first_admin(database: Database, settings: Settings) -> None:
    """Create FIRST_ADMIN_EMAIL's account as an admin unless it exists.

    Never stops the start-up: an unreachable or unmigrated database is logged, and the
    readiness check reports it. Several workers starting at once race; one wins.
    """
    email = settings.first_admin_email.strip()
    if not email:
        return
    try:
        async with unit_of_work(database.sessionmaker) as session:
            existing = await repository.get_by_email(session, email)
        if existing is not None:
            if not existing.is_admin:
                logger.warning("FIRST_ADMIN_EMAIL belongs to an account that is not an admin")
            elif settings.first_admin_password is None:
                # Its generated password was shown once, at the first start.
                logger.info(
                    "first admin %s exists; lost its password? `storefront create-admin` "
                    "makes another admin",
                    email,
                )
            return
        await _create_first_admin(database, settings, email)
    except EmailTaken:
        return
    except (SQLAlchemyError, OSError) as error:
        logger.error("first admin not created: database unavailable (%s)", type(error).__name__)


async def _create_first_admin(database: Database, settings: Settings, email: str) -> None:
    configured = settings.first_admin_password
    if configured is None and settings.is_production:
        logger.warning("no first admin: set FIRST_ADMIN_PASSWORD or run `storefront create-admin`")
        return
    password = configured.get_secret_value() if configured else new_secret(18)
    try:
        await create_admin(
            database, settings, email=email, password=password, full_name=FIRST_ADMIN_NAME
        )
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        logger.error("first admin not created: %s", problems)
        return
    if configured is None:
        # Development only: shown this once, never stored in clear anywhere.
        logger.warning(
            "first admin created: sign in as %s with password %s (shown once)", email, password
        )
    else:
        logger.info("first admin created: %s", email)
