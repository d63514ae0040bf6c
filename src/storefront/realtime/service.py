"""Rooms of live updates: names, their pub/sub channels, and publishing into them."""

import logging
import re
from functools import partial

from storefront.core.db import HUB_KEY, Work, after_commit
from storefront.core.pubsub import JSON, Hub

ROOM_NAME = re.compile(r"^[a-z0-9_-]{1,64}$")

# A socket's close codes (RFC 6455 §7.4, IANA): 1008 for credentials or a room that do
# not admit it, which reconnecting cannot change; 1013 for what passes (too slow, too
# many sockets, a backend unavailable), so that clients retry later.
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013

logger = logging.getLogger("storefront.realtime")


def room_channel(room: str) -> str:
    return f"room:{room}"


def user_room(user_id: object) -> str:
    """The private room of one user (and the admins)."""
    return f"user-{user_id}"


async def publish(hub: Hub, room: str, message: dict[str, JSON]) -> None:
    """Best effort, like all live updates: a message lost to a Redis outage is logged."""
    try:
        await hub.publish(room_channel(room), message)
    except Exception as error:
        logger.warning(
            "live update not published", extra={"room": room, "error": type(error).__name__}
        )


def publish_after_commit(work: Work, room: str, message: dict[str, JSON]) -> None:
    hub: Hub | None = work.info.get(HUB_KEY)
    if hub is not None:  # else no process serves sockets (seeding, a script): nobody listens
        after_commit(work, partial(publish, hub, room, message))


def may_join(room: str, *, user_id: int, is_admin: bool) -> bool:
    """`user-<id>` rooms are private to that user (and the admins); the rest are open."""
    if room.startswith("user-"):
        return is_admin or room == user_room(user_id)
    return True
