"""Catalog API: admin writes, public reads, filters, sort, pagination, v1 and v2."""

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.identity import user_headers

pytestmark = pytest.mark.anyio


@pytest.fixture
async def admin(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    _, headers = await user_headers(client, session, admin=True)
    return headers


def new_item(**overrides: Any) -> dict[str, Any]:
    return {
        "sku": f"SKU-{uuid.uuid4().hex[:8]}",
        "name": "Blue mug",
        "description": "A mug, blue.",
        "category": "kitchen",
        "price": "12.50",
        "stock": 5,
        **overrides,
    }


async def create(client: httpx.AsyncClient, admin: dict[str, str], **overrides: Any) -> Any:
    response = await client.post("/api/v1/items", json=new_item(**overrides), headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_admin_creates_an_item_that_anyone_reads(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await create(client, admin, price=12.5)

    assert created["price"] == 12.5
    assert created["currency"] == "EUR"
    assert created["image_url"] is None and created["thumbnail_url"] is None
    read = await client.get(f"/api/v1/items/{created['id']}")
    assert read.status_code == 200
    assert read.json() == created


async def test_prices_are_exact_to_the_cent(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await create(client, admin, price="19.99")
    assert created["price"] == 19.99

    v2 = (await client.get(f"/api/v2/items/{created['id']}")).json()
    assert v2["price"] == {"amount": "19.99", "currency": "EUR"}


@pytest.mark.parametrize(
    "change",
    [
        {"price": "1.005"},
        {"price": -1},
        {"stock": -1},
        {"sku": "has space"},
        {"currency": "euro"},
        {"name": ""},
        {"role": "admin"},
    ],
)
async def test_invalid_items_are_refused_with_422(
    client: httpx.AsyncClient, admin: dict[str, str], change: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/items", json=new_item(**change), headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_writes_need_an_admin(client: httpx.AsyncClient, session: AsyncSession) -> None:
    anonymous = await client.post("/api/v1/items", json=new_item())
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    _, user = await user_headers(client, session)
    forbidden = await client.post("/api/v1/items", json=new_item(), headers=user)
    assert forbidden.status_code == 403


async def test_a_taken_sku_is_a_conflict(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    first = await create(client, admin)
    again = await client.post("/api/v1/items", json=new_item(sku=first["sku"]), headers=admin)
    assert again.status_code == 409
    assert again.json()["code"] == "SKU_TAKEN"
    other = await create(client, admin)
    renamed = await client.patch(
        f"/api/v1/items/{other['id']}", json={"sku": first["sku"]}, headers=admin
    )
    assert renamed.status_code == 409


async def test_update_and_delete(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    item = await create(client, admin)
    updated = await client.patch(
        f"/api/v1/items/{item['id']}", json={"price": "3.00", "stock": 9}, headers=admin
    )
    assert updated.status_code == 200
    assert (updated.json()["price"], updated.json()["stock"]) == (3.0, 9)
    assert updated.json()["name"] == item["name"]

    assert (await client.delete(f"/api/v1/items/{item['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"/api/v1/items/{item['id']}")).status_code == 404
    missing = await client.delete(f"/api/v1/items/{item['id']}", headers=admin)
    assert missing.status_code == 404


async def test_filters_sort_and_pagination(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    category = f"cat-{uuid.uuid4().hex[:6]}"
    for name, price in [("Cup", "3.00"), ("Apron", "15.00"), ("Bowl", "7.25")]:
        await create(client, admin, name=name, price=price, category=category)

    async def names(**params: Any) -> list[str]:
        response = await client.get("/api/v1/items", params={"category": category, **params})
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names(sort="name") == ["Apron", "Bowl", "Cup"]
    assert await names(sort="-price") == ["Apron", "Bowl", "Cup"]
    assert await names(sort="price", min_price="5") == ["Bowl", "Apron"]
    assert await names(max_price="7.25", sort="-name") == ["Cup", "Bowl"]
    assert await names(q="BOW") == ["Bowl"]
    assert await names(q="%") == []
    page = (
        await client.get(
            "/api/v1/items", params={"category": category, "per_page": 2, "page": 2, "sort": "name"}
        )
    ).json()
    assert page["total"] == 3 and page["pages"] == 2 and page["page"] == 2
    assert [item["name"] for item in page["items"]] == ["Cup"]


@pytest.mark.parametrize(
    "params",
    [{"sort": "stock"}, {"per_page": 101}, {"page": 0}, {"min_price": "-1"}, {"per_page": "x"}],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get("/api/v1/items", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_v1_item_reads_announce_their_successor(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    item = await create(client, admin)

    one = await client.get(f"/api/v1/items/{item['id']}")
    assert one.headers["deprecation"] == "@1793491200"  # 2026-11-01T00:00:00Z
    assert one.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert one.headers["link"] == f'</api/v2/items/{item["id"]}>; rel="successor-version"'
    listing = await client.get("/api/v1/items", params={"sort": "name"})
    assert listing.headers["link"] == '</api/v2/items?sort=name>; rel="successor-version"'
    # Even an error of a deprecated route says so.
    missing = await client.get("/api/v1/items/999999999")
    assert missing.status_code == 404
    assert "deprecation" in missing.headers
    # v2 and the writes are not deprecated.
    assert "deprecation" not in (await client.get(f"/api/v2/items/{item['id']}")).headers


async def test_v2_lists_items_with_money_objects(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    category = f"cat-{uuid.uuid4().hex[:6]}"
    await create(client, admin, category=category, price="0.10")
    page = (await client.get("/api/v2/items", params={"category": category})).json()
    assert page["items"][0]["price"] == {"amount": "0.10", "currency": "EUR"}
    assert page["total"] == 1


async def test_openapi_marks_the_v1_reads_deprecated(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert paths["/api/v1/items"]["get"]["deprecated"] is True
    assert paths["/api/v1/items/{item_id}"]["get"]["deprecated"] is True
    assert "deprecated" not in paths["/api/v2/items"]["get"]
    assert "deprecated" not in paths["/api/v1/items"]["post"]
