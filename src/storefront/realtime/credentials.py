"""A socket's credentials for as long as it is open: the access token it was opened with,
re-checked whenever they may have changed (see sockets.py), and its expiry.

A re-check reads the database, never this process's cache of identities: that cache
serves for up to `local_cache.TRUST_SECONDS` after delivery was last confirmed, which is
longer than a socket may outlive a change whose invalidation was lost.
"""

import time
from dataclasses import dataclass

import anyio

from storefront.auth import service as auth_service
from storefront.auth import tokens
from storefront.auth.identities import Principal, identities
from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.core.errors import ServiceUnavailable, Unauthorized
from storefront.core.local_cache import LocalCache
from storefront.realtime.service import CLOSE_POLICY_VIOLATION, CLOSE_TRY_AGAIN_LATER, may_join
from storefront.realtime.sockets import LiveSockets, Member

Ending = tuple[int, str]

# Keeps nothing (no delivery epoch is ever trusted): every re-check is one read.
_UNCACHED = LocalCache[object, Principal](ttl_seconds=0.0, max_entries=1, epoch=lambda _: None)


@dataclass(frozen=True, slots=True)
class Credentials:
    token: str
    principal: Principal
    expires_at: float  # the token's `exp`, in Unix seconds


async def authenticate(database: Database, settings: Settings, token: str) -> Credentials | None:
    """The token's user, read once (from this process's cache if it may): no database
    connection is held for the life of the socket. None if the token is not valid now;
    ServiceUnavailable if the database cannot tell."""
    try:
        principal = await auth_service.authenticate_token(
            database.reads, identities(database.invalidations), settings=settings, token=token
        )
        # Verified just above (and remembered): this only reads its expiry.
        expires_at = tokens.token_codec(settings).verify(token).expires_at
    except (Unauthorized, tokens.InvalidAccessToken):
        return None
    if expires_at <= time.time():
        return None  # within the verifier's leeway for clock skew, but a socket ends at `exp`
    return Credentials(token, principal, expires_at)


class CredentialWatch:
    """`ended()` returns how the socket must close once its credentials end or no longer
    admit it to its room: 1008 with a reason, or 1013 when they could not be re-checked."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        room: str,
        member: Member,
        sockets: LiveSockets,
        database: Database,
        settings: Settings,
    ) -> None:
        self.credentials = credentials
        self.room = room
        self.member = member
        self.sockets = sockets
        self.database = database
        self.settings = settings

    async def ended(self) -> Ending:
        while True:
            remaining = self.credentials.expires_at - time.time()
            if remaining <= 0:
                return CLOSE_POLICY_VIOLATION, "the access token has expired"
            with anyio.move_on_after(remaining):
                await self.member.recheck.wait()
            if not self.member.recheck.is_set():
                continue  # the expiry
            # Cleared before reading: a change that lands during the read sets it again.
            self.member.recheck.clear()
            ending = await self._recheck()
            if ending is not None:
                return ending

    async def _recheck(self) -> Ending | None:
        token = self.credentials.token
        try:
            principal = await self.sockets.rechecks.run(
                self.sockets.flight_key(token), self._authenticate
            )
        except Unauthorized:
            return CLOSE_POLICY_VIOLATION, "the credentials of this socket have ended"
        except ServiceUnavailable:
            return CLOSE_TRY_AGAIN_LATER, "the credentials could not be re-checked; try again"
        if not may_join(self.room, user_id=principal.id, is_admin=principal.is_admin):
            return CLOSE_POLICY_VIOLATION, "this room is private"
        return None

    async def _authenticate(self) -> Principal:
        return await auth_service.authenticate_token(
            self.database.reads, _UNCACHED, settings=self.settings, token=self.credentials.token
        )
