"""Password reset: a mailed single-use token, valid for an hour."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth.models import PasswordResetToken
from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.core.security import secret_digest
from storefront.kit.models import utc_now
from storefront.main import create_app
from tests.conftest import running_client
from tests.fixtures.accounts import account, bearer, log_in, mails_to, new_email, text_of
from tests.fixtures.smtp import SmtpServer

pytestmark = pytest.mark.anyio

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "reset to something new"
LINK = re.compile(r"https://shop\.example/reset-password\?\S+")


async def request_reset(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(RESET, json={"email": email})


def token_from_mail(smtp_server: SmtpServer, email: str) -> str:
    """Follows the link of the newest reset mail to its token."""
    mail = mails_to(smtp_server, email)[-1]
    assert "reset" in str(mail["Subject"]).lower()
    link = LINK.search(text_of(mail))
    assert link is not None
    [token] = parse_qs(urlparse(link.group()).query)["token"]
    return token


async def confirm(client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD) -> int:
    response = await client.post(CONFIRM, json={"token": token, "new_password": password})
    return response.status_code


async def test_the_mailed_link_resets_the_password_and_ends_sessions(
    client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    user = await account(client)
    response = await request_reset(client, user.email.upper())
    assert response.status_code == 202
    token = token_from_mail(smtp_server, user.email)
    assert await confirm(client, token) == 204
    assert (await log_in(client, user.email)).status_code == 401
    assert (await log_in(client, user.email, NEW_PASSWORD)).status_code == 200
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": user.refresh_token}
    )
    assert refreshed.status_code == 401


async def test_a_reset_token_works_once(client: httpx.AsyncClient, smtp_server: SmtpServer) -> None:
    user = await account(client)
    await request_reset(client, user.email)
    token = token_from_mail(smtp_server, user.email)
    assert await confirm(client, token) == 204
    response = await client.post(CONFIRM, json={"token": token, "new_password": "yet another one"})
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_RESET_TOKEN"
    assert (await log_in(client, user.email, NEW_PASSWORD)).status_code == 200


async def test_using_one_token_voids_the_others(
    client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    user = await account(client)
    await request_reset(client, user.email)
    first = token_from_mail(smtp_server, user.email)
    await request_reset(client, user.email)
    second = token_from_mail(smtp_server, user.email)
    assert first != second
    assert await confirm(client, second) == 204
    assert await confirm(client, first, "not taken either") == 401


async def test_an_unknown_address_gets_the_same_202_and_no_mail(
    client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    user = await account(client)
    known = await request_reset(client, user.email)
    unknown_email = new_email()
    unknown = await request_reset(client, unknown_email)
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert mails_to(smtp_server, unknown_email) == []
    assert len(mails_to(smtp_server, user.email)) == 2  # welcome, reset


async def test_an_expired_token_is_refused(
    client: httpx.AsyncClient, smtp_server: SmtpServer, session: AsyncSession, settings: Settings
) -> None:
    user = await account(client)
    await request_reset(client, user.email)
    token = token_from_mail(smtp_server, user.email)
    stored = await session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == secret_digest(token))
    )
    assert stored is not None
    lifetime = stored.expires_at - stored.created_at
    assert lifetime == timedelta(seconds=settings.password_reset_ttl_seconds) == timedelta(hours=1)
    await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == stored.id)
        .values(expires_at=utc_now() - timedelta(seconds=1))
    )
    await session.commit()
    assert await confirm(client, token) == 401
    assert (await log_in(client, user.email, user.password)).status_code == 200


async def test_a_deactivated_account_cannot_be_reset(
    client: httpx.AsyncClient, smtp_server: SmtpServer, database: Database, settings: Settings
) -> None:
    from tests.fixtures.accounts import admin_account

    admin = await admin_account(client, database, settings)
    user = await account(client)
    await request_reset(client, user.email)
    token = token_from_mail(smtp_server, user.email)
    await client.patch(f"/api/v1/users/{user.id}", headers=admin.headers, json={"is_active": False})
    assert await confirm(client, token) == 401
    assert len(mails_to(smtp_server, user.email)) == 2
    await request_reset(client, user.email)
    assert len(mails_to(smtp_server, user.email)) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"token": "whatever", "new_password": "short"},
        {"token": "", "new_password": NEW_PASSWORD},
        {"new_password": NEW_PASSWORD},
        {"token": "t", "new_password": NEW_PASSWORD, "email": "x@example.com"},
    ],
)
async def test_malformed_confirmations_are_422(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    assert (await client.post(CONFIRM, json=body)).status_code == 422


async def test_a_made_up_token_is_401(client: httpx.AsyncClient) -> None:
    assert await confirm(client, "made-up") == 401


async def test_only_a_digest_of_the_token_is_stored(
    client: httpx.AsyncClient, smtp_server: SmtpServer, session: AsyncSession
) -> None:
    user = await account(client)
    await request_reset(client, user.email)
    token = token_from_mail(smtp_server, user.email)
    hashes = (
        await session.scalars(
            select(PasswordResetToken.token_hash).where(PasswordResetToken.user_id == user.id)
        )
    ).all()
    assert hashes == [secret_digest(token)]


async def test_reset_requests_are_limited_like_sign_ins(
    settings: Settings, database: Database, smtp_server: SmtpServer
) -> None:
    limited = settings.model_copy(update={"rate_limit_login": "2/minute"})
    async with running_client(create_app(limited, database=database)) as client:
        email = new_email()
        statuses = [(await request_reset(client, email)).status_code for _ in range(3)]
        assert statuses == [202, 202, 429]
        assert (await request_reset(client, new_email())).status_code == 202


async def test_the_new_password_signs_in(
    client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    user = await account(client)
    await request_reset(client, user.email)
    assert await confirm(client, token_from_mail(smtp_server, user.email)) == 204
    pair = (await log_in(client, user.email, NEW_PASSWORD)).json()
    me = await client.get("/api/v1/users/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
