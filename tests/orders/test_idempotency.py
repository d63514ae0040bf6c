"""Idempotency-Key, one request at a time: replay, another body, expiry."""

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.kit.models import utc_now
from storefront.orders import idempotency
from storefront.orders.models import IdempotencyRecord
from tests.catalog.test_items import create as create_item
from tests.fixtures.identity import user_headers

pytestmark = pytest.mark.anyio


@pytest.fixture
async def setup(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, Any]:
    _, admin = await user_headers(client, session, admin=True)
    _, buyer = await user_headers(client, session)
    item = await create_item(client, admin, stock=10)
    return {"buyer": buyer, "item_id": item["id"]}


def body(item_id: int, quantity: int = 1) -> dict[str, Any]:
    return {"lines": [{"item_id": item_id, "quantity": quantity}]}


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], key: str, payload: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        "/api/v1/orders", json=payload, headers={**headers, "Idempotency-Key": key}
    )


async def test_the_same_key_and_body_replay_the_first_response(
    client: httpx.AsyncClient, setup: dict[str, Any]
) -> None:
    key = str(uuid.uuid4())
    first = await post(client, setup["buyer"], key, body(setup["item_id"]))
    second = await post(client, setup["buyer"], key, body(setup["item_id"]))

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    # Byte for byte: JSONB on PostgreSQL used to hand the keys back in its own order.
    assert second.content == first.content
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    stock = (await client.get(f"/api/v2/items/{setup['item_id']}")).json()["stock"]
    assert stock == 9


async def test_the_same_key_with_another_body_is_422(
    client: httpx.AsyncClient, setup: dict[str, Any]
) -> None:
    key = str(uuid.uuid4())
    await post(client, setup["buyer"], key, body(setup["item_id"]))
    other = await post(client, setup["buyer"], key, body(setup["item_id"], quantity=2))
    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_keys_belong_to_their_user(
    client: httpx.AsyncClient, session: AsyncSession, setup: dict[str, Any]
) -> None:
    key = str(uuid.uuid4())
    mine = await post(client, setup["buyer"], key, body(setup["item_id"]))
    _, stranger = await user_headers(client, session)
    theirs = await post(client, stranger, key, body(setup["item_id"]))
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]


async def test_a_failed_request_leaves_its_key_free(
    client: httpx.AsyncClient, setup: dict[str, Any]
) -> None:
    key = str(uuid.uuid4())
    too_many = await post(client, setup["buyer"], key, body(setup["item_id"], quantity=11))
    assert too_many.status_code == 409
    retried = await post(client, setup["buyer"], key, body(setup["item_id"], quantity=11))
    assert retried.status_code == 409  # executed again, not replayed
    assert "idempotent-replayed" not in retried.headers
    fixed = await post(client, setup["buyer"], key, body(setup["item_id"], quantity=1))
    assert fixed.status_code == 201


async def test_an_expired_key_is_forgotten(
    client: httpx.AsyncClient, session: AsyncSession, setup: dict[str, Any]
) -> None:
    key = str(uuid.uuid4())
    first = await post(client, setup["buyer"], key, body(setup["item_id"]))
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == key)
        .values(expires_at=utc_now() - timedelta(seconds=1))
    )
    await session.commit()

    fresh = await post(client, setup["buyer"], key, body(setup["item_id"]))

    assert fresh.status_code == 201
    assert "idempotent-replayed" not in fresh.headers
    assert fresh.json()["id"] != first.json()["id"]


async def test_expired_records_are_purged(
    session: AsyncSession, client: httpx.AsyncClient, setup: dict[str, Any]
) -> None:
    key = str(uuid.uuid4())
    await post(client, setup["buyer"], key, body(setup["item_id"]))
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == key)
        .values(expires_at=utc_now() - timedelta(seconds=1))
    )
    assert await idempotency.purge_expired(session) >= 1
    remaining = await session.scalar(
        select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.key == key)
    )
    assert remaining == 0


async def test_an_overlong_key_is_422(client: httpx.AsyncClient, setup: dict[str, Any]) -> None:
    response = await post(client, setup["buyer"], "k" * 256, body(setup["item_id"]))
    assert response.status_code == 422
