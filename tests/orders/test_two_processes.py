"""Two API processes (uvicorn, as deployed) share one database and one Redis: 100
concurrent one-unit orders spread over both still sell exactly the 10 units in stock."""

import asyncio
import uuid
from collections import Counter

import httpx
import pytest

from tests.fixtures.live import live_cleanup
from tests.fixtures.servers import (
    StartServers,
    admin_email,
    new_user,
    start_servers,
    token_for,
    wait_until_live,
)

__all__ = ["admin_email", "live_cleanup", "start_servers"]

pytestmark = pytest.mark.anyio


async def test_two_processes_never_oversell(
    start_servers: StartServers, admin_email: str, live_cleanup: None
) -> None:
    first, second = start_servers(2, shared_redis=False)
    await wait_until_live(first, second)
    admin = {"Authorization": f"Bearer {await token_for(first, admin_email)}"}
    _, buyer_token = await new_user(second)
    buyer = {"Authorization": f"Bearer {buyer_token}"}
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(
            f"{first}/api/v1/items",
            json={
                "sku": f"LIVE-{uuid.uuid4().hex[:10]}",
                "name": "Last ten",
                "category": "live",
                "price": "5",
                "stock": 10,
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        item_id = created.json()["id"]
        body = {"lines": [{"item_id": item_id, "quantity": 1}]}

        responses = await asyncio.gather(
            *(
                client.post(f"{(first, second)[n % 2]}/api/v1/orders", json=body, headers=buyer)
                for n in range(100)
            )
        )

        assert Counter(r.status_code for r in responses) == {201: 10, 409: 90}
        item = (await client.get(f"{second}/api/v2/items/{item_id}")).json()
        assert item["stock"] == 0
