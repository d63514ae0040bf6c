"""Full-text search: PostgreSQL tsvector or SQLite FTS5 behind one endpoint."""

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.catalog.test_items import create
from tests.fixtures.identity import user_headers

pytestmark = pytest.mark.anyio


@pytest.fixture
async def admin(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    _, headers = await user_headers(client, session, admin=True)
    return headers


async def search(client: httpx.AsyncClient, q: str, **params: Any) -> httpx.Response:
    return await client.get("/api/v1/search", params={"q": q, **params})


async def test_search_finds_words_in_names_and_descriptions_best_first(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"
    in_name = await create(client, admin, name=f"{word} kettle", description="Boils water.")
    in_text = await create(client, admin, name="Teapot", description=f"Pairs with a {word}.")
    await create(client, admin, name="Unrelated", description="Nothing to see.")

    response = await search(client, word)

    assert response.status_code == 200
    found = [item["id"] for item in response.json()["items"]]
    assert found == [in_name["id"], in_text["id"]]
    assert response.json()["total"] == 2


async def test_search_stems_and_ignores_case(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"
    item = await create(client, admin, name=f"Running shoes {word}")
    found = (await search(client, f"{word.upper()} shoe")).json()["items"]
    assert [hit["id"] for hit in found] == [item["id"]]


async def test_search_follows_renames(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    old, new = f"zq{uuid.uuid4().hex[:8]}", f"zq{uuid.uuid4().hex[:8]}"
    item = await create(client, admin, name=old)
    await client.patch(f"/api/v1/items/{item['id']}", json={"name": new}, headers=admin)

    assert (await search(client, old)).json()["total"] == 0
    assert (await search(client, new)).json()["total"] == 1
    await client.delete(f"/api/v1/items/{item['id']}", headers=admin)
    assert (await search(client, new)).json()["total"] == 0


@pytest.mark.parametrize(
    "q", ['"', "AND", "NEAR(", "*", "a OR", "-", "name:x", "'); DROP TABLE item; --", "💥"]
)
async def test_any_text_is_a_valid_query(client: httpx.AsyncClient, q: str) -> None:
    response = await search(client, q)
    assert response.status_code == 200
    assert response.json()["page"] == 1


async def test_search_validates_its_query(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/search")).status_code == 422
    assert (await search(client, "")).status_code == 422
    assert (await search(client, "x" * 201)).status_code == 422


async def test_search_is_rate_limited_by_its_own_policy(
    client: httpx.AsyncClient,
) -> None:
    response = await search(client, "anything")
    # The search policy (60/minute) is stricter than the default (300/minute).
    assert response.headers["ratelimit-limit"] == "60"
