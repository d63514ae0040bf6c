"""Who a token belongs to is kept in each API process's memory (auth/identities.py); a
change that ends or alters it is honoured by the process that made it before it answers,
and by every other process within a second, through the hub."""

import asyncio
import time
import uuid

import httpx
import pytest

from tests.fixtures.identity import PASSWORD
from tests.fixtures.live import live_cleanup
from tests.fixtures.servers import (
    StartServers,
    admin_email,
    start_servers,
    token_for,
    wait_until_live,
)

__all__ = ["admin_email", "live_cleanup", "start_servers"]

pytestmark = pytest.mark.anyio

BOUND_SECONDS = 1.0


async def sign_up_and_in(base_url: str) -> tuple[int, dict[str, str]]:
    email = f"live-{uuid.uuid4().hex[:12]}@example.com"  # live_cleanup removes it
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        created = await client.post(
            "/api/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Known"}
        )
        assert created.status_code == 201, created.text
        tokens = await client.post(
            "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
        )
        assert tokens.status_code == 200, tokens.text
    return int(created.json()["id"]), tokens.json()


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def seconds_until(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], status: int
) -> float:
    started = time.monotonic()
    while (await client.get(url, headers=headers)).status_code != status:
        assert time.monotonic() - started < 10, f"{url} never answered {status}"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
async def two_processes(start_servers: StartServers, live_cleanup: None) -> tuple[str, str]:
    first, second = start_servers(2)
    await wait_until_live(first, second)
    return first, second


async def test_a_logout_in_one_process_is_honoured_by_both(
    two_processes: tuple[str, str],
) -> None:
    first, second = two_processes
    _, tokens = await sign_up_and_in(first)
    async with httpx.AsyncClient(timeout=10) as client:
        # Both processes know who the token belongs to now.
        for base in (first, second):
            assert (
                await client.get(f"{base}/api/v1/users/me", headers=bearer(tokens))
            ).status_code == 200
        logout = await client.post(
            f"{first}/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}
        )
        assert logout.status_code == 204
        assert (
            await client.get(f"{first}/api/v1/users/me", headers=bearer(tokens))
        ).status_code == 401
        waited = await seconds_until(client, f"{second}/api/v1/users/me", bearer(tokens), 401)
    assert waited < BOUND_SECONDS


async def test_a_password_change_in_one_process_ends_the_tokens_in_both(
    two_processes: tuple[str, str],
) -> None:
    first, second = two_processes
    _, tokens = await sign_up_and_in(first)
    async with httpx.AsyncClient(timeout=10) as client:
        assert (
            await client.get(f"{second}/api/v1/users/me", headers=bearer(tokens))
        ).status_code == 200
        changed = await client.post(
            f"{first}/api/v1/users/me/password",
            json={"current_password": PASSWORD, "new_password": "another password 2"},
            headers=bearer(tokens),
        )
        assert changed.status_code == 204
        assert (
            await client.get(f"{first}/api/v1/users/me", headers=bearer(tokens))
        ).status_code == 401
        waited = await seconds_until(client, f"{second}/api/v1/users/me", bearer(tokens), 401)
    assert waited < BOUND_SECONDS


async def test_a_deactivation_in_one_process_ends_the_tokens_in_both(
    two_processes: tuple[str, str], admin_email: str
) -> None:
    first, second = two_processes
    user_id, tokens = await sign_up_and_in(first)
    admin = {"Authorization": f"Bearer {await token_for(first, admin_email)}"}
    async with httpx.AsyncClient(timeout=10) as client:
        assert (
            await client.get(f"{second}/api/v1/users/me", headers=bearer(tokens))
        ).status_code == 200
        deactivated = await client.patch(
            f"{first}/api/v1/users/{user_id}", json={"is_active": False}, headers=admin
        )
        assert deactivated.status_code == 200, deactivated.text
        assert (
            await client.get(f"{first}/api/v1/users/me", headers=bearer(tokens))
        ).status_code == 401
        waited = await seconds_until(client, f"{second}/api/v1/users/me", bearer(tokens), 401)
    assert waited < BOUND_SECONDS


async def test_a_profile_change_in_one_process_shows_in_both(
    two_processes: tuple[str, str],
) -> None:
    first, second = two_processes
    _, tokens = await sign_up_and_in(first)
    async with httpx.AsyncClient(timeout=10) as client:
        me = f"{second}/api/v1/users/me"
        assert (await client.get(me, headers=bearer(tokens))).json()["full_name"] == "Known"
        renamed = await client.patch(
            f"{first}/api/v1/users/me", json={"full_name": "Renamed"}, headers=bearer(tokens)
        )
        assert renamed.status_code == 200
        first_me = await client.get(f"{first}/api/v1/users/me", headers=bearer(tokens))
        assert first_me.json()["full_name"] == "Renamed"
        started = time.monotonic()
        while (await client.get(me, headers=bearer(tokens))).json()["full_name"] != "Renamed":
            assert time.monotonic() - started < 10
            await asyncio.sleep(0.02)
    assert time.monotonic() - started < BOUND_SECONDS
