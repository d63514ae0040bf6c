"""Password hashing: Argon2id, off the event loop, a bounded number at once."""

import asyncio
import time

import httpx
import pytest

from storefront.core import security
from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.core.security import (
    PasswordHasher,
    PasswordHashingBusy,
    TooManyHashesOfOneClient,
    hashing_for,
    password_hasher,
)
from storefront.main import create_app
from tests.conftest import client_from, running_client
from tests.fixtures.accounts import PASSWORD, new_email

pytestmark = pytest.mark.anyio

# Slow enough (about 0.1 s a hash) to be seen overlapping.
SLOW = {"time_cost": 3, "memory_kib": 65_536, "parallelism": 1}


def slow_hasher(*, concurrency: int, max_waiting: int) -> PasswordHasher:
    return PasswordHasher(**SLOW, concurrency=concurrency, max_waiting=max_waiting)


async def test_hashing_leaves_the_event_loop_free() -> None:
    hasher = slow_hasher(concurrency=1, max_waiting=0)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    hashed = await hasher.hash(PASSWORD)
    elapsed = time.perf_counter() - started
    ticker.cancel()
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=1$")
    # Blocked, the loop would not have ticked at all while hashing.
    assert ticks >= elapsed / 0.005 / 4, (ticks, elapsed)


async def test_beyond_the_bound_callers_are_turned_away_at_once() -> None:
    hasher = slow_hasher(concurrency=1, max_waiting=1)

    async def hash_for(client: str) -> str:
        hashing_for.set(client)  # each gathered coroutine runs in a context of its own
        return await hasher.hash(PASSWORD)

    results = await asyncio.gather(
        *(hash_for(f"client-{n}") for n in range(3)), return_exceptions=True
    )
    busy = [result for result in results if isinstance(result, PasswordHashingBusy)]
    assert len(busy) == 1
    assert busy[0].status_code == 503
    # The bound frees up as hashes finish.
    assert (await hasher.hash(PASSWORD)).startswith("$argon2id$")


async def test_verify_and_update_knows_right_from_wrong() -> None:
    hasher = slow_hasher(concurrency=2, max_waiting=0)
    hashed = await hasher.hash(PASSWORD)
    assert await hasher.verify_and_update(PASSWORD, hashed) == (True, None)
    assert await hasher.verify_and_update("wrong", hashed) == (False, None)
    cheaper = PasswordHasher(time_cost=1, memory_kib=8, parallelism=1, concurrency=1, max_waiting=0)
    matches, rehashed = await cheaper.verify_and_update(PASSWORD, hashed)
    assert matches
    assert rehashed is not None
    assert rehashed.startswith("$argon2id$v=19$m=8,t=1,p=1$")


async def test_a_hash_of_an_unknown_format_matches_nothing() -> None:
    hasher = slow_hasher(concurrency=1, max_waiting=0)
    assert await hasher.verify_and_update(PASSWORD, "md5:5f4dcc3b5aa765d61d8327deb882cf99") == (
        False,
        None,
    )


async def test_one_hasher_per_configuration(settings: Settings) -> None:
    assert password_hasher(settings) is password_hasher(settings.model_copy())
    other = settings.model_copy(update={"password_hash_concurrency": 7})
    assert password_hasher(other) is not password_hasher(settings)


def flooded(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "password_hash_time_cost": SLOW["time_cost"],
            "password_hash_memory_kib": SLOW["memory_kib"],
            "password_hash_concurrency": 1,
            "password_hash_max_waiting": 0,
            "first_admin_email": "",
        }
    )


async def sign_up(client: httpx.AsyncClient) -> httpx.Response:
    body = {"email": new_email(), "password": PASSWORD, "full_name": "Flood"}
    return await client.post("/api/v1/users", json=body)


async def test_a_sign_up_flood_gets_503_not_an_ever_longer_wait(
    settings: Settings, database: Database
) -> None:
    app = create_app(flooded(settings), database=database)
    async with running_client(app) as client, client_from(client, "198.51.100.2") as other:
        responses = await asyncio.gather(sign_up(client), sign_up(other))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 503]
    [busy] = [response for response in responses if response.status_code == 503]
    assert busy.headers["retry-after"] == "1"
    assert busy.headers["content-type"] == "application/problem+json"


async def test_one_clients_flood_takes_no_more_than_its_share() -> None:
    """However many hashes one client asks for at once, it holds at most its share of the
    places: the next ones wait their turn, those beyond the waiting bound get a 429 at once,
    and another client's hash goes ahead of the waiting ones."""
    hasher = slow_hasher(concurrency=1, max_waiting=2)
    finished: list[str] = []

    async def hash_for(client: str) -> str:
        hashing_for.set(client)
        hashed = await hasher.hash(PASSWORD)
        finished.append(client)
        return hashed

    async def legitimate_after_the_flood() -> str:
        await asyncio.sleep(0.01)  # the flood's five are all in by then
        return await hash_for("someone")

    *flood, legitimate = await asyncio.gather(
        *(hash_for("flood") for _ in range(5)),
        legitimate_after_the_flood(),
        return_exceptions=True,
    )
    assert isinstance(legitimate, str)
    refused = [result for result in flood if isinstance(result, TooManyHashesOfOneClient)]
    assert len(refused) == 2
    assert refused[0].status_code == 429
    assert refused[0].headers["Retry-After"] == "1"
    assert sum(isinstance(result, str) for result in flood) == 3
    # One flood hash was running; the legitimate one ran next, before the waiting two.
    assert finished == ["flood", "someone", "flood", "flood"]


async def test_a_turn_is_waited_for_a_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "TURN_WAIT_SECONDS", 0.01)
    hasher = slow_hasher(concurrency=1, max_waiting=4)
    hashing_for.set("impatient")

    first, second = await asyncio.gather(
        hasher.hash(PASSWORD), hasher.hash(PASSWORD), return_exceptions=True
    )

    assert isinstance(first, str)
    assert isinstance(second, PasswordHashingBusy)
    assert second.status_code == 503
    # Nothing of the client is left behind: it starts afresh.
    assert (await hasher.hash(PASSWORD)).startswith("$argon2id$")
