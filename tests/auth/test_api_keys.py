"""API keys: shown once, stored as a digest, used like a bearer token, revocable."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth.api_keys import MAX_KEYS_PER_USER
from storefront.auth.models import ApiKey
from storefront.core.security import secret_digest
from storefront.kit.models import utc_now
from tests.fixtures.accounts import Account, account

pytestmark = pytest.mark.anyio

KEYS = "/api/v1/auth/api-keys"
ME = "/api/v1/users/me"


async def create_key(client: httpx.AsyncClient, user: Account, name: str = "ci") -> dict[str, Any]:
    response = await client.post(KEYS, headers=user.headers, json={"name": name})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_new_key_is_shown_once_and_authenticates(client: httpx.AsyncClient) -> None:
    user = await account(client)
    created = await create_key(client, user, "deploy bot")
    key = created["key"]
    assert key.startswith(f"sfk_{created['prefix']}_")
    assert created["name"] == "deploy bot"
    assert created["last_used_at"] is None
    me = await client.get(ME, headers={"X-API-Key": key})
    assert me.status_code == 200
    assert me.json()["id"] == user.id
    listed = (await client.get(KEYS, headers=user.headers)).json()
    assert listed["total"] == 1
    [item] = listed["items"]
    assert "key" not in item
    assert key not in str(listed)
    assert item["prefix"] == created["prefix"]
    assert item["last_used_at"] is not None


async def test_only_a_digest_of_the_key_is_stored(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await account(client)
    created = await create_key(client, user)
    stored = await session.scalar(select(ApiKey).where(ApiKey.id == created["id"]))
    assert stored is not None
    assert stored.key_hash == secret_digest(created["key"])
    secret = created["key"].rsplit("_", 1)[1]
    columns = [stored.name, stored.prefix, stored.key_hash]
    assert not any(secret in column for column in columns)


async def test_last_use_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await account(client)
    created = await create_key(client, user)
    headers = {"X-API-Key": created["key"]}

    async def last_used() -> object:
        session.expire_all()
        return await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == created["id"]))

    await client.get(ME, headers=headers)
    first = await last_used()
    assert first is not None
    for _ in range(3):
        await client.get(ME, headers=headers)
    assert await last_used() == first
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == created["id"])
        .values(last_used_at=utc_now() - timedelta(minutes=2))
    )
    await session.commit()
    await client.get(ME, headers=headers)
    assert await last_used() != first


@pytest.mark.parametrize(
    "key_of",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),
        lambda key: key.replace("sfk_", "xyz_", 1),
        lambda key: "sfk_" + "0" * 12 + "_" + key.rsplit("_", 1)[1],
        lambda key: key.rsplit("_", 1)[0] + "_",
        lambda key: "garbage",
        lambda key: key + "x" * 200,
    ],
)
async def test_wrong_keys_are_401(client: httpx.AsyncClient, key_of: object) -> None:
    user = await account(client)
    key = (await create_key(client, user))["key"]
    assert callable(key_of)
    response = await client.get(ME, headers={"X-API-Key": key_of(key)})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "INVALID_API_KEY"


async def test_a_deleted_key_stops_working(client: httpx.AsyncClient) -> None:
    user = await account(client)
    created = await create_key(client, user)
    response = await client.delete(f"{KEYS}/{created['id']}", headers=user.headers)
    assert response.status_code == 204
    assert (await client.get(ME, headers={"X-API-Key": created["key"]})).status_code == 401
    assert (await client.get(KEYS, headers=user.headers)).json()["total"] == 0
    again = await client.delete(f"{KEYS}/{created['id']}", headers=user.headers)
    assert again.status_code == 404


async def test_someone_else_s_keys_are_invisible(client: httpx.AsyncClient) -> None:
    owner, stranger = await account(client), await account(client)
    created = await create_key(client, owner)
    assert (await client.get(KEYS, headers=stranger.headers)).json()["items"] == []
    response = await client.delete(f"{KEYS}/{created['id']}", headers=stranger.headers)
    assert response.status_code == 404
    assert (await client.get(ME, headers={"X-API-Key": created["key"]})).status_code == 200


async def test_a_key_manages_keys_like_a_token(client: httpx.AsyncClient) -> None:
    user = await account(client)
    key = (await create_key(client, user))["key"]
    second = await client.post(KEYS, headers={"X-API-Key": key}, json={"name": "second"})
    assert second.status_code == 201
    assert (await client.get(KEYS, headers={"X-API-Key": key})).json()["total"] == 2


async def test_keys_survive_a_password_change(client: httpx.AsyncClient) -> None:
    """SPEC: a password change ends the tokens; keys end with deactivation or deletion."""
    user = await account(client)
    key = (await create_key(client, user))["key"]
    response = await client.post(
        f"{ME}/password",
        headers=user.headers,
        json={"current_password": user.password, "new_password": "an entirely new one"},
    )
    assert response.status_code == 204
    assert (await client.get(ME, headers={"X-API-Key": key})).status_code == 200


async def test_key_routes_need_a_user(client: httpx.AsyncClient) -> None:
    assert (await client.get(KEYS)).status_code == 401
    assert (await client.post(KEYS, json={"name": "x"})).status_code == 401
    assert (await client.delete(f"{KEYS}/1")).status_code == 401


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": "a\nb"}])
async def test_bad_key_names_are_422(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    user = await account(client)
    assert (await client.post(KEYS, headers=user.headers, json=body)).status_code == 422


async def test_the_number_of_keys_is_bounded(client: httpx.AsyncClient) -> None:
    user = await account(client)
    for number in range(MAX_KEYS_PER_USER):
        await create_key(client, user, f"key {number}")
    response = await client.post(KEYS, headers=user.headers, json={"name": "one too many"})
    assert response.status_code == 409
    page = await client.get(KEYS, headers=user.headers, params={"per_page": 100})
    assert page.json()["total"] == MAX_KEYS_PER_USER
