"""A live socket ends with its credentials (SPEC §4): closed with 1008 within 1 s, in every
API process, when its session ends, the password changes or the account is deactivated,
and when its access token expires; also while Redis is unreachable."""

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable

import httpx
import jwt
import pytest

from tests.fixtures.identity import PASSWORD
from tests.fixtures.servers import StartServers, token_for, wait_until_live
from tests.fixtures.throwaway_redis import ThrowawayRedis, throwaway_redis
from tests.realtime.clients import Member, closed_with, room_name, sign_in, sign_up, ws_url

__all__ = ["throwaway_redis"]

pytestmark = pytest.mark.anyio

# SPEC §4: the bound on closing a socket whose credentials ended.
BOUND_SECONDS = 1.0

# Ends credentials through the API: (client, the session's tokens, the user's id).
Ending = Callable[[httpx.AsyncClient, dict[str, str], int], Awaitable[httpx.Response]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def logout(client: httpx.AsyncClient, session: dict[str, str], _: int) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/logout", json={"refresh_token": session["refresh_token"]}
    )


async def change_password(
    client: httpx.AsyncClient, session: dict[str, str], _: int
) -> httpx.Response:
    return await client.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "another horse battery staple"},
        headers=bearer(session["access_token"]),
    )


async def assert_closed_in_time(members: list[Member], ended_at: float) -> None:
    for member in members:
        closed = await member.closed(timeout=5)
        assert closed == (1008, "the credentials of this socket have ended"), member.name
        assert member.closed_at is not None
        took = member.closed_at - ended_at
        assert took < BOUND_SECONDS, f"{member.name} closed {took:.2f}s after"


async def test_sockets_close_in_every_process_when_their_credentials_end(
    servers: list[str], admin_email: str, live_cleanup: None
) -> None:
    first, second = servers
    admin = bearer(await token_for(first, admin_email))

    async def deactivate(
        client: httpx.AsyncClient, _: dict[str, str], user_id: int
    ) -> httpx.Response:
        return await client.patch(
            f"/api/v1/users/{user_id}", json={"is_active": False}, headers=admin
        )

    # How, and whether it ends every session of the user or only its own.
    endings: list[tuple[Ending, bool]] = [
        (logout, False),
        (change_password, True),
        (deactivate, True),
    ]
    async with httpx.AsyncClient(base_url=first, timeout=30) as client:
        for end, every_session in endings:
            room = room_name()
            user_id, email = await sign_up(first)
            ending = await sign_in(first, email)
            # The session that ends, on both processes and in two rooms.
            token = ending["access_token"]
            members = [
                await Member.join(ws_url(second, room, token), user_id, "B"),
                await Member.join(ws_url(second, f"user-{user_id}", token), user_id, "B own"),
                await Member.join(ws_url(first, room, token), user_id, "A"),
            ]
            # Another session: a sign-in changes the user too, so every socket re-checks;
            # none may close for it.
            other = await sign_in(first, email)
            survivor = await Member.join(ws_url(second, room, other["access_token"]), user_id, "B2")
            await asyncio.sleep(BOUND_SECONDS)
            for member in [*members, survivor]:
                await member.echo()
                assert member.close is None, (end.__name__, member.name, member.close)
            if every_session:
                members.append(survivor)

            response = await end(client, ending, user_id)
            ended_at = time.monotonic()
            assert response.status_code in (200, 204), (end.__name__, response.text)
            await assert_closed_in_time(members, ended_at)

            if not every_session:
                await survivor.echo()  # another session's socket still relays
                assert survivor.close is None
                await survivor.leave()


async def test_a_socket_closes_when_its_access_token_expires(
    start_servers: StartServers, live_cleanup: None
) -> None:
    (server,) = start_servers(1, ACCESS_TOKEN_TTL_SECONDS="3")
    await wait_until_live(server)
    user_id, email = await sign_up(server)
    token = (await sign_in(server, email))["access_token"]
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    member = await Member.join(ws_url(server, room_name(), token), user_id, "expiring")

    code, reason = await member.closed(timeout=10)
    closed_at = time.time()  # the same clock as the server's `exp`
    assert (code, reason) == (1008, "the access token has expired")
    assert expires_at <= closed_at < expires_at + 1, closed_at - expires_at
    # Refused from then on, even within the leeway that verifiers allow for clock skew.
    assert (await closed_with(ws_url(server, room_name(), token)))[0] == 1008


async def test_sockets_close_in_time_while_redis_is_unreachable(
    start_servers: StartServers, throwaway_redis: ThrowawayRedis, live_cleanup: None
) -> None:
    """No process hears another's invalidations then, so each socket re-checks its token:
    with Redis frozen (SIGSTOP: connections stay up, answers stop, as across a network
    partition) and killed (connections drop)."""
    first, second = start_servers(2, REDIS_URL=throwaway_redis.url)
    await wait_until_live(first, second)
    user_id, email = await sign_up(first)
    frozen, killed, other = [await sign_in(first, email) for _ in range(3)]
    room = room_name()

    async def join(session: dict[str, str], name: str) -> Member:
        return await Member.join(ws_url(second, room, session["access_token"]), user_id, name)

    survivor = await join(other, "B other session")
    for session, outage in ((frozen, "frozen"), (killed, "killed")):
        closing = await join(session, f"B {outage}")
        redis = throwaway_redis.process
        assert redis is not None
        if outage == "frozen":
            redis.send_signal(signal.SIGSTOP)
        else:
            throwaway_redis.kill()
        async with httpx.AsyncClient(base_url=first, timeout=30) as client:
            # From before the request: while Redis is frozen, its answer waits for the
            # publish to time out, long after the session ended.
            started_at = time.monotonic()
            response = await logout(client, session, user_id)
        assert response.status_code == 204, response.text
        await assert_closed_in_time([closing], started_at)

        # The other session's socket outlives the outage and relays again after it.
        if outage == "frozen":
            redis.send_signal(signal.SIGCONT)
        else:
            throwaway_redis.start()
        async with asyncio.timeout(15):
            while True:
                try:
                    await survivor.echo(timeout=0.5)
                    break
                except TimeoutError:
                    continue
        assert survivor.close is None
    await survivor.leave()
