"""`WS /api/v1/ws/{room}?token=…` (SPEC §4 Live updates).

Close codes: 1008 when the token, the room or the credentials do not (or no longer)
admit the socket (credentials.py), 1013 ("try again later") when it is refused or ended
for what passes: too slow, more than MAX_SOCKETS_PER_USER sockets of one user in this
process, the database or Redis unavailable. Each comes with a reason.
"""

from typing import Annotated

from fastapi import APIRouter, Query, WebSocket

from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.core.errors import ServiceUnavailable
from storefront.core.pubsub import Hub
from storefront.realtime.connection import Limits, RoomConnection
from storefront.realtime.credentials import CredentialWatch, authenticate
from storefront.realtime.service import (
    CLOSE_POLICY_VIOLATION,
    CLOSE_TRY_AGAIN_LATER,
    ROOM_NAME,
    may_join,
)
from storefront.realtime.sockets import MAX_SOCKETS_PER_USER, LiveSockets

TOO_MANY_SOCKETS = f"at most {MAX_SOCKETS_PER_USER} live sockets per user and server process"

router = APIRouter(prefix="/api/v1", tags=["realtime"])


async def refuse(websocket: WebSocket, reason: str, code: int = CLOSE_POLICY_VIOLATION) -> None:
    # Refused before anything else happens; accepted only so that the client gets the
    # close code and a reason rather than a bare HTTP 403.
    await websocket.accept()
    await websocket.close(code=code, reason=reason)


@router.websocket("/ws/{room}", name="room-socket")
async def room_socket(
    websocket: WebSocket,
    room: str,
    token: Annotated[str | None, Query(max_length=4096)] = None,
) -> None:
    if not ROOM_NAME.fullmatch(room):
        await refuse(websocket, "room names are 1-64 of a-z, 0-9, _ and -")
        return
    settings: Settings = websocket.state.settings
    database: Database = websocket.state.database
    hub: Hub = websocket.state.hub
    sockets = LiveSockets.of(database.invalidations)
    # Before authenticating: a change of the user's credentials from then on is re-checked.
    stamp = sockets.stamp(hub)
    try:
        credentials = await authenticate(database, settings, token) if token else None
    except ServiceUnavailable:
        await refuse(websocket, "the database is unavailable; try again", CLOSE_TRY_AGAIN_LATER)
        return
    if credentials is None:
        await refuse(websocket, "a valid access token is required")
        return
    user = credentials.principal
    if not may_join(room, user_id=user.id, is_admin=user.is_admin):
        await refuse(websocket, "this room is private")
        return
    member = sockets.admit(user.id, stamp=stamp, hub=hub)
    if member is None:
        await refuse(websocket, TOO_MANY_SOCKETS, CLOSE_TRY_AGAIN_LATER)
        return
    try:
        await websocket.accept()
        watch = CredentialWatch(
            credentials,
            room=room,
            member=member,
            sockets=sockets,
            database=database,
            settings=settings,
        )
        connection = RoomConnection(
            websocket,
            hub=hub,
            room=room,
            user_id=user.id,
            limits=Limits.of(settings),
            credentials=watch,
        )
        await connection.serve()
    finally:
        sockets.leave(member)
