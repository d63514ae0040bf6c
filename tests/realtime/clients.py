"""Live-update clients for the tests: real sockets against real API processes."""

import asyncio
import time
import uuid
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fixtures.identity import PASSWORD


def ws_url(base_url: str, room: str, token: str | None) -> str:
    url = base_url.replace("http://", "ws://") + f"/api/v1/ws/{room}"
    return f"{url}?token={token}" if token is not None else url


def room_name() -> str:
    return f"room-{uuid.uuid4().hex[:10]}"


async def receive(socket: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        message: dict[str, Any] = orjson.loads(await socket.recv())
        return message


async def receive_until(socket: ClientConnection, wanted: Any, timeout: float = 5) -> list[Any]:
    """Everything received up to and including the first message `wanted(message)`."""
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            message = await receive(socket, timeout)
            seen.append(message)
            if wanted(message):
                return seen


async def wait_for_joins(socket: ClientConnection, user_ids: set[int]) -> None:
    """Until `socket` has heard every one of `user_ids` join (the room is complete)."""
    pending = set(user_ids)
    async with asyncio.timeout(10):
        while pending:
            message = await receive(socket)
            if message.get("event") == "user_joined":
                pending.discard(message["user_id"])


async def closed_with(url: str) -> tuple[int, str]:
    """The close code and reason of a socket the server closes before saying anything."""
    async with connect(url) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(socket)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


class Member:
    """An open socket read in the background: what it received, and when and how the
    server closed it."""

    def __init__(self, socket: ClientConnection, name: str) -> None:
        self.socket = socket
        self.name = name
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed_at: float | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def join(cls, url: str, user_id: int, name: str) -> "Member":
        """Connected, and in the room: its own join has come back."""
        member = cls(await connect(url), name)
        await member.next(lambda m: m.get("event") == "user_joined" and m["user_id"] == user_id)
        return member

    @property
    def close(self) -> tuple[int, str] | None:
        received = self.socket.protocol.close_rcvd
        return None if received is None else (received.code, received.reason)

    async def closed(self, timeout: float = 5) -> tuple[int, str]:
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._reader)
        assert self.close is not None, f"{self.name}: closed without a close frame"
        return self.close

    async def next(self, wanted: Any, timeout: float = 5) -> dict[str, Any]:
        """The first message received (from now on, or still queued) that is `wanted`."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.received.get()
                if wanted(message):
                    return message

    async def echo(self, timeout: float = 5) -> None:
        """Sends a message into its room and gets it back: the socket is open and relays."""
        nonce = uuid.uuid4().hex
        await self.socket.send(orjson.dumps({"nonce": nonce}).decode())
        await self.next(lambda m: m.get("nonce") == nonce, timeout)

    async def leave(self) -> None:
        await self.socket.close()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                await self.received.put(orjson.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.closed_at = time.monotonic()


async def sign_up(base_url: str) -> tuple[int, str]:
    """A new user's id and e-mail address (its password is `PASSWORD`)."""
    email = f"live-{uuid.uuid4().hex[:12]}@example.com"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/api/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Live"}
        )
    assert response.status_code == 201, response.text
    return int(response.json()["id"]), email


async def sign_in(base_url: str, email: str) -> dict[str, str]:
    """A new session: its access and refresh tokens."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
        )
    assert response.status_code == 200, response.text
    pair: dict[str, str] = response.json()
    return pair
