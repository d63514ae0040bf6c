"""`WS /api/v1/ws/{room}?token=…` (SPEC §4 Live updates)."""

from typing import Annotated

from fastapi import APIRouter, Query, WebSocket

from storefront.auth import service as auth_service
from storefront.auth.identities import Principal, identities
from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.core.errors import Unauthorized
from storefront.realtime.connection import Limits, RoomConnection
from storefront.realtime.service import ROOM_NAME, may_join

CLOSE_POLICY_VIOLATION = 1008

router = APIRouter(prefix="/api/v1", tags=["realtime"])


async def authenticate(websocket: WebSocket, token: str | None) -> Principal | None:
    """The token's user, read once: no database connection is held for the life of the
    socket."""
    if not token:
        return None
    settings: Settings = websocket.state.settings
    database: Database = websocket.state.database
    try:
        return await auth_service.authenticate_token(
            database.reads, identities(database.invalidations), settings=settings, token=token
        )
    except Unauthorized:
        return None


async def refuse(websocket: WebSocket, reason: str) -> None:
    # Refused before anything else happens; accepted only so that the client gets the
    # close code 1008 and a reason rather than a bare HTTP 403.
    await websocket.accept()
    await websocket.close(code=CLOSE_POLICY_VIOLATION, reason=reason)


@router.websocket("/ws/{room}", name="room-socket")
async def room_socket(
    websocket: WebSocket,
    room: str,
    token: Annotated[str | None, Query(max_length=4096)] = None,
) -> None:
    if not ROOM_NAME.fullmatch(room):
        await refuse(websocket, "room names are 1-64 of a-z, 0-9, _ and -")
        return
    user = await authenticate(websocket, token)
    if user is None:
        await refuse(websocket, "a valid access token is required")
        return
    if not may_join(room, user_id=user.id, is_admin=user.is_admin):
        await refuse(websocket, "this room is private")
        return
    await websocket.accept()
    connection = RoomConnection(
        websocket,
        hub=websocket.state.hub,
        room=room,
        user_id=user.id,
        limits=Limits.of(websocket.state.settings),
    )
    await connection.serve()
