"""Refresh-token rotation, reuse detection and sign-out."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth.models import AuthSession, RefreshToken
from storefront.core.security import secret_digest
from storefront.kit.models import utc_now
from tests.conftest import running_client
from tests.fixtures.accounts import account, bearer, new_email, tokens

pytestmark = pytest.mark.anyio

ME = "/api/v1/users/me"


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


async def logout(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/logout", json={"refresh_token": refresh_token})


async def me_status(client: httpx.AsyncClient, access_token: str) -> int:
    return (await client.get(ME, headers=bearer(access_token))).status_code


async def test_a_refresh_token_is_exchanged_for_a_new_pair_once(
    client: httpx.AsyncClient,
) -> None:
    user = await account(client)
    response = await refresh(client, user.refresh_token)
    assert response.status_code == 200
    pair = response.json()
    assert pair["token_type"] == "bearer"
    assert pair["refresh_token"] != user.refresh_token
    assert response.headers["cache-control"] == "no-store"
    assert await me_status(client, pair["access_token"]) == 200
    # The next one in the chain works in turn.
    assert (await refresh(client, pair["refresh_token"])).status_code == 200


async def test_reusing_a_spent_refresh_token_ends_the_whole_session(
    client: httpx.AsyncClient,
) -> None:
    user = await account(client)
    first = (await refresh(client, user.refresh_token)).json()
    second = (await refresh(client, first["refresh_token"])).json()
    replay = await refresh(client, user.refresh_token)
    assert replay.status_code == 401
    assert replay.headers["www-authenticate"] == "Bearer"
    assert replay.json()["code"] == "INVALID_REFRESH_TOKEN"
    # Every token of the session, the newest included, is dead: the thief's and the owner's.
    assert (await refresh(client, second["refresh_token"])).status_code == 401
    for access_token in (user.access_token, first["access_token"], second["access_token"]):
        assert await me_status(client, access_token) == 401


async def test_reuse_ends_only_that_session(client: httpx.AsyncClient) -> None:
    user = await account(client)
    other_device = await tokens(client, user.email)
    await refresh(client, user.refresh_token)
    assert (await refresh(client, user.refresh_token)).status_code == 401
    assert await me_status(client, other_device["access_token"]) == 200
    assert (await refresh(client, other_device["refresh_token"])).status_code == 200


async def test_logout_ends_the_session_at_once(client: httpx.AsyncClient) -> None:
    user = await account(client)
    other_device = await tokens(client, user.email)
    response = await logout(client, user.refresh_token)
    assert response.status_code == 204
    assert response.content == b""
    assert await me_status(client, user.access_token) == 401
    assert (await refresh(client, user.refresh_token)).status_code == 401
    assert await me_status(client, other_device["access_token"]) == 200


async def test_logout_with_a_later_token_of_the_session(client: httpx.AsyncClient) -> None:
    user = await account(client)
    pair = (await refresh(client, user.refresh_token)).json()
    assert (await logout(client, pair["refresh_token"])).status_code == 204
    assert await me_status(client, pair["access_token"]) == 401


async def test_logout_with_an_unknown_token_is_harmless(client: httpx.AsyncClient) -> None:
    user = await account(client)
    assert (await logout(client, "not-a-token")).status_code == 204
    assert await me_status(client, user.access_token) == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"refresh_token": ""}, {"refresh_token": " "}, {"refresh_token": "x" * 257}],
)
async def test_malformed_refresh_and_logout_bodies_are_422(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    for path in ("/api/v1/auth/refresh", "/api/v1/auth/logout"):
        response = await client.post(path, json=body)
        assert response.status_code == 422


async def test_an_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await refresh(client, "made-up-token")
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_REFRESH_TOKEN"


async def test_an_expired_refresh_token_is_401(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await account(client)
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == secret_digest(user.refresh_token))
        .values(expires_at=utc_now() - timedelta(seconds=1))
    )
    await session.commit()
    assert (await refresh(client, user.refresh_token)).status_code == 401
    # Not a replay: the session lives on.
    assert await me_status(client, user.access_token) == 200


async def test_only_digests_of_refresh_tokens_are_stored(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await account(client)
    stored = (
        await session.scalars(
            select(RefreshToken.token_hash).join(AuthSession).where(AuthSession.user_id == user.id)
        )
    ).all()
    assert stored == [secret_digest(user.refresh_token)]


async def test_signing_in_clears_the_expired_sessions_of_the_user(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await account(client)
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user.id)
        .values(expires_at=utc_now() - timedelta(seconds=1))
    )
    await session.commit()
    await tokens(client, user.email)
    remaining = await session.scalars(select(AuthSession.id).where(AuthSession.user_id == user.id))
    assert len(remaining.all()) == 1


async def test_concurrent_use_of_one_refresh_token_lets_one_through_and_ends_the_session(
    committed_app: FastAPI,
) -> None:
    async with running_client(committed_app) as client:
        user = await account(client, email=new_email("race"))
        responses = await asyncio.gather(*(refresh(client, user.refresh_token) for _ in range(5)))
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200, 401, 401, 401, 401]
        [winner] = [r.json() for r in responses if r.status_code == 200]
        # The losers were replays: the session, the winner's new tokens included, is over.
        assert await me_status(client, winner["access_token"]) == 401
        assert (await refresh(client, winner["refresh_token"])).status_code == 401
