"""Access tokens: short-lived HS256 JWTs naming a user and the session they belong to.

The signing key is derived from SECRET_KEY for this purpose only, and named by a `kid`
header. A token names its key, so PREVIOUS_SECRET_KEY's tokens keep working during a
rotation while new ones are signed with the current key.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import jwt

from storefront.core.config import Settings
from storefront.kit.models import utc_now

ALGORITHM = "HS256"
ACCESS = "access"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "sid", "iat", "exp", "jti", "type"]
# Clock skew tolerated between the processes that sign and those that verify.
LEEWAY_SECONDS = 5
# Tokens verified once and remembered until they expire: a signature never changes its
# mind, and verifying costs more than the rest of authenticating a request.
MAX_VERIFIED = 4096


class InvalidAccessToken(Exception):
    """Expired, tampered with, from another issuer or audience, or not an access token."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    session_id: uuid.UUID
    expires_at: int  # the `exp` claim, in Unix seconds


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


def _key_id_of(token: str) -> str | None:
    """The header's `kid`, read cheaply: only to pick the key that PyJWT then verifies the
    whole token with (header included), so nothing here is trusted."""
    header = token.partition(".")[0]
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    key_id = decoded.get("kid") if isinstance(decoded, dict) else None
    return key_id if isinstance(key_id, str) else None


def _signing_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"storefront access token", hashlib.sha256).digest()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


@dataclass(frozen=True)
class TokenCodec:
    issuer: str
    audience: str
    ttl_seconds: int
    key_id: str
    key: bytes
    # Every key a token may be signed with, current one included, by key id.
    verification_keys: dict[str, bytes]
    _verified: dict[str, AccessClaims] = field(default_factory=dict, repr=False, compare=False)

    def issue(self, *, user_id: int, session_id: uuid.UUID) -> IssuedToken:
        now = utc_now()
        expires_at = now + timedelta(seconds=self.ttl_seconds)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
            "type": ACCESS,
        }
        token = jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.key_id})
        return IssuedToken(token, expires_at)

    def verify(self, token: str) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if len(self._verified) >= MAX_VERIFIED:
                del self._verified[next(iter(self._verified))]  # the oldest
            self._verified[token] = claims
        if claims.expires_at + LEEWAY_SECONDS <= time.time():
            self._verified.pop(token, None)
            raise InvalidAccessToken("the token has expired")
        return claims

    def _decode(self, token: str) -> AccessClaims:
        try:
            key = self.verification_keys.get(_key_id_of(token) or "")
            if key is None:
                raise InvalidAccessToken("unknown signing key")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
            if claims["type"] != ACCESS:
                raise InvalidAccessToken("not an access token")
            return AccessClaims(int(claims["sub"]), uuid.UUID(claims["sid"]), int(claims["exp"]))
        except (jwt.InvalidTokenError, ValueError, TypeError, AttributeError) as error:
            # ValueError covers bad base64 (binascii.Error) and bad JSON in the header.
            raise InvalidAccessToken(str(error)) from error


@cache
def _codec(
    secret: str, previous_secret: str | None, issuer: str, audience: str, ttl_seconds: int
) -> TokenCodec:
    key = _signing_key(secret)
    keys = {_key_id(key): key}
    if previous_secret:
        previous = _signing_key(previous_secret)
        keys.setdefault(_key_id(previous), previous)
    return TokenCodec(issuer, audience, ttl_seconds, _key_id(key), key, keys)


def token_codec(settings: Settings) -> TokenCodec:
    previous = settings.previous_secret_key
    return _codec(
        settings.secret_key.get_secret_value(),
        previous.get_secret_value() if previous else None,
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.access_token_ttl_seconds,
    )
