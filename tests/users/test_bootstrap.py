"""The first admin at start-up, and `storefront create-admin`."""

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from storefront.cli import app as cli
from storefront.core import migrations
from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.main import create_app
from storefront.users.models import Role, User, email_key
from tests.conftest import running_client
from tests.fixtures.accounts import PASSWORD, log_in, new_email, sign_up

pytestmark = pytest.mark.anyio

GENERATED = re.compile(r"sign in as (\S+) with password (\S+) \(shown once\)")


@contextmanager
def logged(logger_name: str = "storefront.users") -> Iterator[list[str]]:
    """Messages of a logger; attached after create_app, which reconfigures logging."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(logging.DEBUG)
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


async def admins_named(session: AsyncSession, email: str) -> list[User]:
    query = select(User).where(User.email_key == email_key(email))
    return list((await session.scalars(query)).all())


def first_admin(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"first_admin_email": new_email("first-admin"), **changes})


async def test_the_first_admin_is_made_at_start_up(
    settings: Settings, database: Database, session: AsyncSession
) -> None:
    configured = first_admin(settings, first_admin_password=SecretStr("the admin's secret"))
    async with running_client(create_app(configured, database=database)) as client:
        [admin] = await admins_named(session, configured.first_admin_email)
        assert admin.role == Role.ADMIN
        response = await log_in(client, configured.first_admin_email, "the admin's secret")
        assert response.status_code == 200
        token = response.json()["access_token"]
        users = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
        assert users.status_code == 200
    # A restart finds it and leaves it be.
    async with running_client(create_app(configured, database=database)):
        assert len(await admins_named(session, configured.first_admin_email)) == 1


async def test_without_a_password_one_is_generated_and_shown_once(
    settings: Settings, database: Database
) -> None:
    configured = first_admin(settings, environment="development")
    app = create_app(configured, database=database)
    with logged() as messages:
        async with running_client(app) as client:
            [shown] = [m for m in messages if GENERATED.search(m)]
            match = GENERATED.search(shown)
            assert match is not None
            email, password = match.groups()
            assert email == configured.first_admin_email
            assert len(password) >= 20
            assert (await log_in(client, email, password)).status_code == 200
    app = create_app(configured, database=database)
    with logged() as messages:
        async with running_client(app):
            assert not [m for m in messages if GENERATED.search(m)]


async def test_production_never_makes_up_an_admin_password(
    settings: Settings, database: Database, session: AsyncSession
) -> None:
    configured = first_admin(settings, environment="production", log_json=False)
    app = create_app(configured, database=database)
    with logged() as messages:
        async with running_client(app):
            assert await admins_named(session, configured.first_admin_email) == []
    assert any("FIRST_ADMIN_PASSWORD" in message for message in messages)


async def test_an_existing_user_is_not_promoted(
    settings: Settings, database: Database, session: AsyncSession
) -> None:
    configured = first_admin(settings, first_admin_password=SecretStr("whatever it is"))
    async with running_client(create_app(settings, database=database)) as client:
        await sign_up(client, email=configured.first_admin_email.upper())
    app = create_app(configured, database=database)
    with logged() as messages:
        async with running_client(app):
            [user] = await admins_named(session, configured.first_admin_email)
            assert user.role == Role.USER
    assert any("not an admin" in message for message in messages)


async def test_an_empty_first_admin_email_makes_no_admin(
    settings: Settings, database: Database, session: AsyncSession
) -> None:
    before = await session.scalar(select(func.count()).select_from(User))
    configured = settings.model_copy(update={"first_admin_email": ""})
    async with running_client(create_app(configured, database=database)) as client:
        assert (await client.get("/health/live")).status_code == 200
    assert await session.scalar(select(func.count()).select_from(User)) == before


async def test_a_bad_configured_password_is_reported_not_used(
    settings: Settings, database: Database, session: AsyncSession
) -> None:
    configured = first_admin(settings, first_admin_password=SecretStr("short"))
    app = create_app(configured, database=database)
    with logged() as messages:
        async with running_client(app):
            assert await admins_named(session, configured.first_admin_email) == []
    [report] = [m for m in messages if m.startswith("first admin not created")]
    assert "password" in report
    assert "short" not in report


async def test_an_unmigrated_database_does_not_stop_the_start_up(
    settings: Settings, tmp_path: Path
) -> None:
    empty = first_admin(settings, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    app = create_app(empty)
    with logged() as messages:
        async with running_client(app) as client:
            assert (await client.get("/health/live")).status_code == 200
    assert any("first admin not created" in message for message in messages)


def cli_environment(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    migrations.upgrade(url)
    return {"DATABASE_URL": url, "ENVIRONMENT": "development", "REDIS_URL": ""}


def test_create_admin_makes_an_admin_and_refuses_a_duplicate(tmp_path: Path) -> None:
    env = cli_environment(tmp_path)
    email = new_email("cli-admin")
    runner = CliRunner()
    created = runner.invoke(
        cli,
        ["create-admin", "--email", email, "--full-name", "Edsger Dijkstra"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        env=env,
    )
    assert created.exit_code == 0, created.output
    assert f"admin {email} created" in created.stdout
    assert PASSWORD not in created.stdout
    again = runner.invoke(
        cli, ["create-admin", "--email", email.upper(), "--password", PASSWORD], env=env
    )
    assert again.exit_code == 1
    assert "already has an account" in again.stderr


def test_create_admin_refuses_a_short_password(tmp_path: Path) -> None:
    env = {**cli_environment(tmp_path), "STOREFRONT_ADMIN_PASSWORD": "short"}
    result = CliRunner().invoke(cli, ["create-admin", "--email", new_email()], env=env)
    assert result.exit_code == 2
    assert "password" in result.stderr


async def test_the_cli_admin_can_sign_in(settings: Settings, tmp_path: Path) -> None:
    env = await anyio.to_thread.run_sync(cli_environment, tmp_path)
    email = new_email("cli-admin")
    arguments = ["create-admin", "--email", email, "--password", PASSWORD]
    result = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(cli, arguments, env=env))
    assert result.exit_code == 0, result.output
    on_file = settings.model_copy(update={"database_url": env["DATABASE_URL"], "redis_url": ""})
    async with running_client(create_app(on_file)) as client:
        response = await log_in(client, email)
        assert response.status_code == 200
        me = await client.get(
            "/api/v1/users/me",
            headers={"Authorization": f"Bearer {response.json()['access_token']}"},
        )
        assert me.json()["role"] == "admin"
