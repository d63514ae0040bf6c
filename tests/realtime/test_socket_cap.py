"""One user holds at most MAX_SOCKETS_PER_USER live sockets in each API process; the
excess is refused with 1013 ("try again later") and a reason."""

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from storefront.realtime.router import TOO_MANY_SOCKETS
from storefront.realtime.sockets import MAX_SOCKETS_PER_USER
from tests.realtime.clients import Member, receive, room_name, sign_in, sign_up, ws_url

pytestmark = pytest.mark.anyio


async def refusal(url: str) -> tuple[int, str] | None:
    """How the server refuses a socket to `url`, or None if it admits it."""
    async with connect(url) as socket:
        try:
            await receive(socket)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason
    return None


async def test_a_user_holds_at_most_the_cap_of_sockets_in_each_process(
    servers: list[str], live_cleanup: None
) -> None:
    first, second = servers
    (user_id, email), (other_id, other_email) = await sign_up(first), await sign_up(first)
    token = (await sign_in(first, email))["access_token"]
    room = room_name()
    url = ws_url(first, room, token)
    held = [await Member.join(url, user_id, f"#{n}") for n in range(MAX_SOCKETS_PER_USER)]

    assert await refusal(url) == (1013, TOO_MANY_SOCKETS)
    assert await refusal(ws_url(first, f"user-{user_id}", token)) == (1013, TOO_MANY_SOCKETS)
    # Other users on that process, and this user on another process, are not affected.
    other_token = (await sign_in(first, other_email))["access_token"]
    others = [
        await Member.join(ws_url(first, room, other_token), other_id, "other user"),
        await Member.join(ws_url(second, room, token), user_id, "other process"),
    ]
    for member in held[:1] + others:
        await member.echo()  # the refusals disturbed nobody

    # Closing one frees its place, once the server has seen it go.
    await held.pop().leave()
    async with asyncio.timeout(5):
        while await refusal(url) is not None:
            await asyncio.sleep(0.05)
    for member in held + others:
        await member.leave()
