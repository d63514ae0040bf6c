"""Real concurrency against a real pool: stock is never oversold, one Idempotency-Key
creates one order. On PostgreSQL also across two API processes."""

import asyncio
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.live import live_app, live_cleanup, live_client, live_user

__all__ = ["live_app", "live_cleanup", "live_client"]

pytestmark = pytest.mark.anyio


async def new_item(client: httpx.AsyncClient, admin: dict[str, str], *, stock: int) -> int:
    body = {
        "sku": f"LIVE-{uuid.uuid4().hex[:10]}",
        "name": "Limited edition",
        "category": "live",
        "price": "9.99",
        "stock": stock,
    }
    response = await client.post("/api/v1/items", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_a_hundred_concurrent_orders_for_ten_units(
    live_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    admin = await live_user(live_client, engine, admin=True)
    buyers = [await live_user(live_client, engine) for _ in range(4)]
    item_id = await new_item(live_client, admin, stock=10)
    body = {"lines": [{"item_id": item_id, "quantity": 1}]}

    responses = await asyncio.gather(
        *(
            live_client.post("/api/v1/orders", json=body, headers=buyers[n % len(buyers)])
            for n in range(100)
        )
    )

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 10, 409: 90}
    item = (await live_client.get(f"/api/v2/items/{item_id}")).json()
    assert item["stock"] == 0


async def test_twenty_concurrent_requests_with_one_key_create_one_order(
    live_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    admin = await live_user(live_client, engine, admin=True)
    buyer = await live_user(live_client, engine)
    item_id = await new_item(live_client, admin, stock=100)
    body = {"lines": [{"item_id": item_id, "quantity": 1}]}
    headers = {**buyer, "Idempotency-Key": f"key-{uuid.uuid4()}"}

    responses = await asyncio.gather(
        *(live_client.post("/api/v1/orders", json=body, headers=headers) for _ in range(20))
    )

    created = [r for r in responses if r.status_code == 201]
    assert created, [r.status_code for r in responses]
    assert {r.status_code for r in responses} <= {201, 409}
    assert len({r.json()["id"] for r in created}) == 1
    orders = (await live_client.get("/api/v1/orders", headers=buyer)).json()
    assert orders["total"] == 1
    assert (await live_client.get(f"/api/v2/items/{item_id}")).json()["stock"] == 99
    replay = await live_client.post("/api/v1/orders", json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == created[0].json()
