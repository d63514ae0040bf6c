"""Live updates over real sockets: two API processes (uvicorn) on one Redis."""

import asyncio
import base64
import os
import time
import uuid
from collections import Counter
from socket import SO_RCVBUF, SOL_SOCKET
from socket import socket as tcp_socket
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.fixtures.servers import StartServers, new_user, token_for, wait_until_live
from tests.realtime.clients import (
    Member,
    closed_with,
    receive,
    receive_until,
    room_name,
    wait_for_joins,
    ws_url,
)

pytestmark = pytest.mark.anyio

# Within one connection's burst allowance (20 messages, then 10 a second).
PER_MEMBER = 20
# 150 messages of 60 kB: more than a stalled client's socket buffers can take (a few
# MB), at a pace the two processes on this small machine handle with room to spare.
MESSAGES = 150
SEND_TIMEOUT_SECONDS = 2


class StalledClient:
    """A WebSocket client that completes the handshake and then never reads again, with
    a tiny receive buffer: the server's sends to it back up as to a dead-slow phone."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, url: str) -> "StalledClient":
        parsed = urlsplit(url)
        sock = tcp_socket()
        sock.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (parsed.hostname, parsed.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {parsed.path}?{parsed.query} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert status.startswith(b"HTTP/1.1 101"), status
        return cls(reader, writer)

    async def was_disconnected(self, timeout: float) -> bool:
        """Reads (at last) whatever is buffered: True if the server closed the stream."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(1 << 16):
                    pass
        except TimeoutError:
            return False
        finally:
            self.writer.close()
        return True


async def test_every_member_in_every_process_gets_every_message_once(
    servers: list[str], live_cleanup: None
) -> None:
    room = room_name()
    members = [await new_user(servers[n % 2]) for n in range(4)]
    sockets = [
        await connect(ws_url(servers[n % 2], room, token)) for n, (_, token) in enumerate(members)
    ]
    try:
        # The first member hears everyone join: the room is complete in both processes.
        await wait_for_joins(sockets[0], {user_id for user_id, _ in members})
        for n, socket in enumerate(sockets):
            for seq in range(PER_MEMBER):
                await socket.send(orjson.dumps({"text": "hello", "from": n, "seq": seq}).decode())

        for socket in sockets:
            got: Counter[tuple[int, int]] = Counter()
            async with asyncio.timeout(10):
                while sum(got.values()) < 4 * PER_MEMBER:
                    message = await receive(socket)
                    if "seq" in message:
                        got[(message["from"], message["seq"])] += 1
                        assert message["room"] == room
                        assert message["user_id"] == members[message["from"]][0]
                        assert "sent_at" in message
            assert set(got) == {(n, seq) for n in range(4) for seq in range(PER_MEMBER)}
            assert set(got.values()) == {1}
    finally:
        for socket in sockets:
            await socket.close()


async def test_leaving_is_announced(servers: list[str], live_cleanup: None) -> None:
    room = room_name()
    (_, stays), (leaves_id, leaves) = [await new_user(url) for url in servers]
    staying = await connect(ws_url(servers[0], room, stays))
    leaving = await connect(ws_url(servers[1], room, leaves))
    await receive_until(
        staying, lambda m: m == {"event": "user_joined", "user_id": leaves_id, "room": room}
    )
    await leaving.close()
    await receive_until(
        staying, lambda m: m == {"event": "user_left", "user_id": leaves_id, "room": room}
    )
    await staying.close()


async def test_bad_tokens_and_other_peoples_rooms_are_refused_with_1008(
    servers: list[str], admin_email: str, live_cleanup: None
) -> None:
    base = servers[0]
    user_id, token = await new_user(base)
    other_id, _ = await new_user(base)
    admin = await token_for(base, admin_email)

    assert (await closed_with(ws_url(base, "lobby", None)))[0] == 1008
    assert (await closed_with(ws_url(base, "lobby", "not-a-token")))[0] == 1008
    assert (await closed_with(ws_url(base, f"user-{other_id}", token)))[0] == 1008
    assert (await closed_with(ws_url(base, "Not_Allowed!", token)))[0] == 1008
    # One's own private room, and an admin in anyone's, are fine. The admin may first hear
    # the owner's socket leave (the server announces it after the close handshake): wait
    # for one's own join, not for the first message.
    own_room = f"user-{user_id}"
    for who, who_id in ((token, user_id), (admin, await user_id_of(base, admin))):
        joined = {"event": "user_joined", "user_id": who_id, "room": own_room}
        async with connect(ws_url(base, own_room, who)) as socket:
            await receive_until(socket, joined.__eq__)


async def user_id_of(base_url: str, token: str) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    return int(me.json()["id"])


async def test_a_malformed_message_gets_an_error_and_the_socket_stays_open(
    servers: list[str], live_cleanup: None
) -> None:
    room = room_name()
    (user_id, token), (other_id, other_token) = [await new_user(url) for url in servers]
    other = await Member.join(ws_url(servers[1], room, other_token), other_id, "other")
    malformed: list[str | bytes] = [
        "not json",
        "[1, 2]",
        '"text"',
        orjson.dumps({"x": "y" * 5000}).decode(),
        b"\x00\xff\xfe",
        b'{"json": "but in a binary frame"}',
    ]
    async with connect(ws_url(servers[0], room, token)) as socket:
        await receive(socket)  # own join
        for bad in malformed:
            await socket.send(bad)
            error = await receive(socket)
            assert error["event"] == "error", error
            assert error["detail"]
        await socket.send('{"ok": true, "user_id": 999999}')
        echoed = await receive(socket)
        assert echoed["ok"] is True
        assert echoed["user_id"] == user_id  # the server's, not the sender's claim
    # The other member heard nothing of the errors: the sender's join, then its message.
    relayed = await other.next(lambda m: m.get("event") != "user_joined")
    assert relayed["ok"] is True, relayed
    await other.leave()


async def test_an_order_status_change_reaches_its_owner_in_another_process(
    servers: list[str], admin_email: str, live_cleanup: None
) -> None:
    first, second = servers
    admin = {"Authorization": f"Bearer {await token_for(first, admin_email)}"}
    owner_id, owner_token = await new_user(first)
    async with httpx.AsyncClient(base_url=first, timeout=30) as client:
        item = await client.post(
            "/api/v1/items",
            json={
                "sku": f"LIVE-{uuid.uuid4().hex[:10]}",
                "name": "Pushed",
                "category": "live",
                "price": "1",
                "stock": 5,
            },
            headers=admin,
        )
        placed = await client.post(
            "/api/v1/orders",
            json={"lines": [{"item_id": item.json()["id"], "quantity": 1}]},
            headers={"Authorization": f"Bearer {owner_token}"},
        )
        async with connect(ws_url(second, f"user-{owner_id}", owner_token)) as socket:
            await receive(socket)  # own join
            changed = await client.patch(
                f"/api/v1/orders/{placed.json()['id']}", json={"status": "paid"}, headers=admin
            )
            assert changed.status_code == 200
            event = await receive(socket)

    assert event == {
        "event": "order.status_changed",
        "order_id": placed.json()["id"],
        "status": "paid",
    }


async def test_a_stalled_client_does_not_delay_the_others(
    start_servers: StartServers, live_cleanup: None
) -> None:
    # Enough traffic to fill the stalled client's socket buffers needs a sender allowed
    # more than the default 10 messages a second of 4 kB.
    servers = start_servers(
        2,
        WS_MESSAGES_PER_SECOND="1000",
        WS_MESSAGE_BURST="1000",
        WS_MAX_MESSAGE_BYTES="61000",
        WS_SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT_SECONDS),
    )
    await wait_until_live(*servers)
    room = room_name()
    (_, sender_token), (_, fast_token), (stalled_id, stalled_token) = [
        await new_user(servers[n % 2]) for n in range(3)
    ]
    sender = await connect(ws_url(servers[0], room, sender_token))
    fast = await connect(ws_url(servers[1], room, fast_token))
    stalled = await StalledClient.connect(ws_url(servers[1], room, stalled_token))
    await wait_for_joins(fast, {stalled_id})
    padding = "x" * 60_000
    sent_at: dict[int, float] = {}
    received: list[int] = []
    delays: list[float] = []

    async def listen() -> None:
        while len(delays) < MESSAGES:
            message = await receive(fast, timeout=10)
            if "seq" in message:
                received.append(message["seq"])
                delays.append(time.monotonic() - sent_at[message["seq"]])

    listener = asyncio.create_task(listen())
    for seq in range(MESSAGES):
        sent_at[seq] = time.monotonic()
        await sender.send(orjson.dumps({"seq": seq, "padding": padding}).decode())
        await asyncio.sleep(0.02)
    await asyncio.wait_for(listener, 30)

    assert received == list(range(MESSAGES))
    # Held back by the stalled member, the others would wait for its sends to time out;
    # half of that is a bound that a busy machine's scheduling does not reach.
    slow = sorted((d, n) for n, d in enumerate(delays))[-10:]
    assert max(delays) < SEND_TIMEOUT_SECONDS / 2, f"slowest deliveries {slow}"
    # The stalled member was dropped rather than allowed to hold the room back.
    assert await stalled.was_disconnected(timeout=15)
    for member in (sender, fast):
        await member.close()
