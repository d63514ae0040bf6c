"""Orders: stock taken all-or-nothing, lifecycle, visibility, popular list, live events."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.pubsub import Hub
from storefront.realtime.service import room_channel, user_room
from tests.catalog.test_items import create as create_item
from tests.fixtures.identity import user_headers

pytestmark = pytest.mark.anyio


@pytest.fixture
async def admin(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    _, headers = await user_headers(client, session, admin=True)
    return headers


@pytest.fixture
async def shopper(client: httpx.AsyncClient, session: AsyncSession) -> tuple[int, dict[str, str]]:
    return await user_headers(client, session)


async def order(
    client: httpx.AsyncClient, headers: dict[str, str], *lines: tuple[int, int], **extra: Any
) -> httpx.Response:
    body = {"lines": [{"item_id": item_id, "quantity": quantity} for item_id, quantity in lines]}
    return await client.post("/api/v1/orders", json=body, headers=headers, **extra)


async def stock_of(client: httpx.AsyncClient, item_id: int) -> int:
    return int((await client.get(f"/api/v2/items/{item_id}")).json()["stock"])


async def test_an_order_takes_stock_and_totals_its_lines(
    client: httpx.AsyncClient, admin: dict[str, str], shopper: tuple[int, dict[str, str]]
) -> None:
    mug = await create_item(client, admin, price="12.50", stock=5)
    pen = await create_item(client, admin, price="0.99", stock=3)

    response = await order(client, shopper[1], (mug["id"], 2), (pen["id"], 3))

    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/v1/orders/{created['id']}"
    assert created["status"] == "pending"
    assert created["total"] == 27.97
    assert created["currency"] == "EUR"
    assert sorted(
        (line["item_id"], line["quantity"], line["unit_price"]) for line in created["lines"]
    ) == sorted([(mug["id"], 2, 12.5), (pen["id"], 3, 0.99)])
    assert await stock_of(client, mug["id"]) == 3
    assert await stock_of(client, pen["id"]) == 0


async def test_an_order_that_cannot_be_filled_takes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], shopper: tuple[int, dict[str, str]]
) -> None:
    plenty = await create_item(client, admin, stock=10)
    scarce = await create_item(client, admin, stock=1)

    short = await order(client, shopper[1], (plenty["id"], 1), (scarce["id"], 2))
    assert short.status_code == 409
    assert short.json()["code"] == "OUT_OF_STOCK"
    unknown = await order(client, shopper[1], (plenty["id"], 1), (999_999_999, 1))
    assert unknown.status_code == 404

    assert await stock_of(client, plenty["id"]) == 10
    assert await stock_of(client, scarce["id"]) == 1
    assert (await client.get("/api/v1/orders", headers=shopper[1])).json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"lines": []},
        {"lines": [{"item_id": 1, "quantity": 0}]},
        {"lines": [{"item_id": 1, "quantity": 1}] * 101},
        {"lines": [{"item_id": 1, "quantity": 1, "unit_price": 0}]},
        {"lines": [{"item_id": "one", "quantity": 1}]},
        {},
    ],
)
async def test_a_bad_order_body_is_422(
    client: httpx.AsyncClient, shopper: tuple[int, dict[str, str]], body: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/orders", json=body, headers=shopper[1])
    assert response.status_code == 422


async def test_orders_need_a_user(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/orders")).status_code == 401
    assert (await client.post("/api/v1/orders", json={"lines": []})).status_code == 401


async def test_users_see_their_own_orders_and_admins_see_all(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: dict[str, str],
    shopper: tuple[int, dict[str, str]],
) -> None:
    item = await create_item(client, admin, stock=10)
    mine = (await order(client, shopper[1], (item["id"], 1))).json()
    _, other = await user_headers(client, session)
    theirs = (await order(client, other, (item["id"], 1))).json()

    listed = (await client.get("/api/v1/orders", headers=shopper[1])).json()
    assert [o["id"] for o in listed["items"]] == [mine["id"]]
    assert (
        await client.get(f"/api/v1/orders/{theirs['id']}", headers=shopper[1])
    ).status_code == 404
    cancel_theirs = await client.post(f"/api/v1/orders/{theirs['id']}/cancel", headers=shopper[1])
    assert cancel_theirs.status_code == 404
    everything = (await client.get("/api/v1/orders", headers=admin)).json()
    assert {mine["id"], theirs["id"]} <= {o["id"] for o in everything["items"]}
    assert (await client.get(f"/api/v1/orders/{theirs['id']}", headers=admin)).status_code == 200


async def test_the_status_lifecycle(
    client: httpx.AsyncClient, admin: dict[str, str], shopper: tuple[int, dict[str, str]]
) -> None:
    item = await create_item(client, admin, stock=10)
    placed = (await order(client, shopper[1], (item["id"], 1))).json()
    url = f"/api/v1/orders/{placed['id']}"

    skipped = await client.patch(url, json={"status": "shipped"}, headers=admin)
    assert skipped.status_code == 409
    assert skipped.json()["code"] == "INVALID_STATUS_TRANSITION"
    by_user = await client.patch(url, json={"status": "paid"}, headers=shopper[1])
    assert by_user.status_code == 403
    for status in ("paid", "shipped", "delivered"):
        moved = await client.patch(url, json={"status": status}, headers=admin)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == status
    backwards = await client.patch(url, json={"status": "paid"}, headers=admin)
    assert backwards.status_code == 409
    assert (await client.post(f"{url}/cancel", headers=shopper[1])).status_code == 409
    assert (await client.patch(url, json={"status": "bogus"}, headers=admin)).status_code == 422


async def test_cancelling_gives_the_stock_back(
    client: httpx.AsyncClient, admin: dict[str, str], shopper: tuple[int, dict[str, str]]
) -> None:
    item = await create_item(client, admin, stock=4)
    placed = (await order(client, shopper[1], (item["id"], 3))).json()
    await client.patch(f"/api/v1/orders/{placed['id']}", json={"status": "paid"}, headers=admin)

    cancelled = await client.post(f"/api/v1/orders/{placed['id']}/cancel", headers=shopper[1])

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert await stock_of(client, item["id"]) == 4
    again = await client.post(f"/api/v1/orders/{placed['id']}/cancel", headers=shopper[1])
    assert again.status_code == 409
    assert await stock_of(client, item["id"]) == 4


async def test_the_status_filter(
    client: httpx.AsyncClient, admin: dict[str, str], shopper: tuple[int, dict[str, str]]
) -> None:
    item = await create_item(client, admin, stock=10)
    first = (await order(client, shopper[1], (item["id"], 1))).json()
    await order(client, shopper[1], (item["id"], 1))
    await client.post(f"/api/v1/orders/{first['id']}/cancel", headers=shopper[1])

    cancelled = await client.get(
        "/api/v1/orders", params={"status": "cancelled"}, headers=shopper[1]
    )
    assert [o["id"] for o in cancelled.json()["items"]] == [first["id"]]
    bad = await client.get("/api/v1/orders", params={"status": "lost"}, headers=shopper[1])
    assert bad.status_code == 422


async def test_popular_items_follow_orders_not_only_the_ttl(
    client: httpx.AsyncClient, admin: dict[str, str], shopper: tuple[int, dict[str, str]]
) -> None:
    # Far more units than any other test orders, so these two lead the list.
    first = await create_item(client, admin, stock=100_000)
    second = await create_item(client, admin, stock=100_000)
    await order(client, shopper[1], (first["id"], 5_000))
    before = [item["id"] for item in (await client.get("/api/v1/items/popular")).json()]
    assert first["id"] in before and second["id"] not in before

    placed = (await order(client, shopper[1], (second["id"], 9_000))).json()
    after = [item["id"] for item in (await client.get("/api/v1/items/popular")).json()]
    assert after.index(second["id"]) < after.index(first["id"])

    await client.post(f"/api/v1/orders/{placed['id']}/cancel", headers=shopper[1])
    cancelled = [item["id"] for item in (await client.get("/api/v1/items/popular")).json()]
    assert second["id"] not in cancelled


async def test_status_changes_are_pushed_to_the_owners_room_after_commit(
    client: httpx.AsyncClient,
    app_state: dict[str, Any],
    admin: dict[str, str],
    shopper: tuple[int, dict[str, str]],
) -> None:
    user_id, headers = shopper
    item = await create_item(client, admin, stock=10)
    placed = (await order(client, headers, (item["id"], 1))).json()
    url = f"/api/v1/orders/{placed['id']}"
    hub: Hub = app_state["hub"]

    async with hub.subscribe(room_channel(user_room(user_id))) as subscription:
        refused = await client.patch(url, json={"status": "delivered"}, headers=admin)
        assert refused.status_code == 409  # rolled back: nothing is pushed
        await client.patch(url, json={"status": "paid"}, headers=admin)
        await client.post(f"{url}/cancel", headers=headers)
        async with asyncio.timeout(5):
            received = [(await anext(subscription)).data for _ in range(2)]

    assert received == [
        {"event": "order.status_changed", "order_id": placed["id"], "status": "paid"},
        {"event": "order.status_changed", "order_id": placed["id"], "status": "cancelled"},
    ]
