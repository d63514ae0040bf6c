"""Idempotency-Key for order creation (SPEC §4): the first response is kept for 24 hours
and replayed; another body under the key is refused; a duplicate sent while the first is
still running gets 409.

Everything happens in the request's own transaction, on its one connection (a second
connection per request would let a burst of requests exhaust the pool waiting on each
other). On PostgreSQL a transaction-scoped advisory lock on (user, key) marks the request
running: a duplicate that cannot take it at once answers 409; the lock goes with the
commit or rollback, so a crash leaves no stale marker. The record is read after the lock
is held (a statement of its own: under READ COMMITTED it then sees a first request that
committed meanwhile). The response is stored in the same transaction as the order, so it
exists exactly when the order does. SQLite (the embedded mode) runs one write
transaction at a time: a duplicate waits for the first, then replays.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.db import Work, statements
from storefront.core.statements import Statements
from storefront.kit.models import utc_now
from storefront.orders import repository
from storefront.orders.errors import IdempotencyKeyInUse, IdempotencyKeyReused

TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: bytes


def request_hash(payload: Any) -> str:
    """Of the parsed body, so whitespace or key order does not make it another request."""
    canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def lock_id(user_id: int, key: str) -> int:
    digest = hashlib.sha256(f"idempotency:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def begin(work: Work, *, user_id: int, key: str, fingerprint: str) -> Replay | None:
    """Hold the key for this request, or return the response to replay."""
    on = await statements(work)
    if on.dialect.name == "postgresql" and not await repository.try_lock_key(
        on, lock_id(user_id, key)
    ):
        raise IdempotencyKeyInUse()
    record = await repository.find_record(on, user_id=user_id, key=key)
    if record is None:
        return None
    if record["expires_at"] <= utc_now():
        await repository.delete_record(on, record["id"])
        return None
    if record["request_hash"] != fingerprint:
        raise IdempotencyKeyReused()
    return Replay(record["status_code"], record["response"].encode())


async def complete(
    on: Statements,
    *,
    user_id: int,
    key: str,
    fingerprint: str,
    status_code: int,
    body: bytes,
    now: datetime,
) -> None:
    """Store the response in the request's transaction: it commits with the order."""
    await repository.add_record(
        on,
        user_id=user_id,
        key=key,
        request_hash=fingerprint,
        status_code=status_code,
        response=body.decode(),
        now=now,
        expires_at=now + TTL,
    )


async def purge_expired(session: AsyncSession) -> int:
    return await repository.purge_records(await statements(session), now=utc_now())
