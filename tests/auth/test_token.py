"""POST /api/v1/auth/token: the OAuth2 password grant."""

import statistics
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.main import create_app
from storefront.users.models import User
from tests.conftest import running_client
from tests.fixtures.accounts import PASSWORD, bearer, log_in, new_email, sign_up

pytestmark = pytest.mark.anyio


def without_request_details(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k not in {"request_id"}}


async def test_signing_in_gives_a_bearer_pair(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await sign_up(client)
    response = await log_in(client, user["email"])
    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == settings.access_token_ttl_seconds
    assert pair["access_token"] != pair["refresh_token"]
    assert response.headers["cache-control"] == "no-store"
    me = await client.get("/api/v1/users/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]
    assert me.json()["last_login_at"] is not None


async def test_the_form_as_swagger_ui_sends_it(client: httpx.AsyncClient) -> None:
    user = await sign_up(client)
    form = {
        "grant_type": "password",
        "username": user["email"],
        "password": PASSWORD,
        "scope": "",
        "client_id": "",
        "client_secret": "",
    }
    response = await client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text


async def test_unknown_address_and_wrong_password_get_the_same_401(
    client: httpx.AsyncClient,
) -> None:
    user = await sign_up(client)
    wrong_password = await log_in(client, user["email"], "not the password")
    unknown = await log_in(client, new_email(), PASSWORD)
    for response in (wrong_password, unknown):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/problem+json"
    assert without_request_details(wrong_password.json()) == without_request_details(unknown.json())
    assert wrong_password.json()["code"] == "INVALID_CREDENTIALS"


async def test_a_deactivated_account_gets_the_same_401(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await sign_up(client)
    await session.execute(update(User).where(User.id == user["id"]).values(is_active=False))
    await session.commit()
    response = await log_in(client, user["email"])
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"


@pytest.mark.parametrize(
    "form",
    [
        {"username": "a@example.com"},
        {"password": PASSWORD},
        {"username": "a@example.com", "password": PASSWORD, "grant_type": "client_credentials"},
        {"username": "a@example.com", "password": "x" * 129},
    ],
)
async def test_incomplete_or_foreign_forms_are_422(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    response = await client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_json_is_not_the_token_endpoint_s_format(client: httpx.AsyncClient) -> None:
    user = await sign_up(client)
    response = await client.post(
        "/api/v1/auth/token", json={"username": user["email"], "password": PASSWORD}
    )
    assert response.status_code in (415, 422)
    assert response.headers["content-type"] == "application/problem+json"


async def test_sign_in_attempts_per_account_and_ip_are_limited(
    settings: Settings, database: Database
) -> None:
    app = create_app(
        settings.model_copy(update={"rate_limit_login": "3/minute"}), database=database
    )
    async with running_client(app) as client:
        user = await sign_up(client)
        statuses = [(await log_in(client, user["email"], "wrong password")).status_code]
        statuses += [(await log_in(client, user["email"])).status_code for _ in range(3)]
        assert statuses == [401, 200, 200, 429]
        limited = await log_in(client, user["email"])
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["code"] == "RATE_LIMITED"
        # Another account from the same address has its own budget.
        other = await sign_up(client)
        assert (await log_in(client, other["email"])).status_code == 200


async def test_an_outdated_hash_is_replaced_on_sign_in(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await sign_up(client)
    legacy = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=16, parallelism=2),))
    old_hash = legacy.hash(PASSWORD)
    await session.execute(update(User).where(User.id == user["id"]).values(password_hash=old_hash))
    await session.commit()
    assert (await log_in(client, user["email"])).status_code == 200
    session.expire_all()
    stored = await session.scalar(select(User.password_hash).where(User.id == user["id"]))
    assert stored is not None
    assert stored != old_hash
    assert "m=8,t=1,p=1" in stored
    assert (await log_in(client, user["email"])).status_code == 200


async def test_unknown_address_takes_as_long_as_a_wrong_password(
    settings: Settings, database: Database
) -> None:
    # A real Argon2 cost (the hash dominates the request): with the tests' cheap one, a
    # skipped hash would not show.
    real_cost = settings.model_copy(
        update={"password_hash_time_cost": 3, "password_hash_memory_kib": 65_536}
    )
    app: FastAPI = create_app(real_cost, database=database)
    async with running_client(app) as client:
        user = await sign_up(client)

        async def duration(email: str) -> float:
            started = time.perf_counter()
            response = await log_in(client, email, "a wrong password")
            assert response.status_code == 401
            return time.perf_counter() - started

        unknown_email = new_email()
        await duration(unknown_email)  # the decoy hash is made on first use
        wrong, unknown = [], []
        # Interleaved, so that a busy machine slows both alike.
        for _ in range(4):
            wrong.append(await duration(user["email"]))
            unknown.append(await duration(unknown_email))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    # An unknown address that skipped hashing would answer tens of times faster.
    assert 0.4 < ratio < 2.5, (unknown, wrong)
