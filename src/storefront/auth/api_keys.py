"""API keys: `sfk_<prefix>_<secret>`, shown once; only a digest of the whole key is kept."""

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth import api_key_repository as repository
from storefront.auth.errors import ApiKeyNotFound, InvalidApiKey, TooManyApiKeys
from storefront.auth.identities import Principal, forget_user_after_commit, user_tag
from storefront.auth.models import ApiKey
from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.core.local_cache import LocalCache
from storefront.core.security import digests_match, new_secret, secret_digest
from storefront.kit.models import utc_now
from storefront.kit.pagination import PageParams, PageResult, fetch_page

SCHEME = "sfk"
PREFIX_BYTES = 6
MAX_KEYS_PER_USER = 50
MAX_KEY_LENGTH = 128


def _prefix_of(key: str) -> str | None:
    if len(key) > MAX_KEY_LENGTH:
        return None
    scheme, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != SCHEME or len(prefix) != PREFIX_BYTES * 2 or not secret:
        return None
    return prefix


async def create(session: AsyncSession, user: Principal, *, name: str) -> tuple[ApiKey, str]:
    """The new key and its whole secret, which is not kept and cannot be shown again."""
    if await repository.count_of_user(session, user.id) >= MAX_KEYS_PER_USER:
        raise TooManyApiKeys()
    prefix = secrets.token_hex(PREFIX_BYTES)
    key = f"{SCHEME}_{prefix}_{new_secret()}"
    api_key = await repository.add(
        session, user_id=user.id, name=name, prefix=prefix, key_hash=secret_digest(key)
    )
    return api_key, key


async def list_api_keys(
    session: AsyncSession, user: Principal, *, params: PageParams
) -> PageResult[ApiKey]:
    return await fetch_page(session, repository.listed(user_id=user.id), params)


async def delete(session: AsyncSession, user: Principal, *, key_id: int) -> None:
    """Revoke one of the user's keys; someone else's is as absent as a missing one."""
    if not await repository.delete_of_user(session, key_id, user_id=user.id):
        raise ApiKeyNotFound()
    forget_user_after_commit(session, user.id)


@dataclass(frozen=True, slots=True)
class KeyHolder:
    principal: Principal
    key_id: int
    last_used_at: datetime | None


async def authenticate(
    database: Database, known: LocalCache[Any, Any], *, settings: Settings, key: str
) -> Principal:
    """The user of a valid key: from `known` (auth/identities.py), else one read. The
    key's last use is written at most every API_KEY_TOUCH_INTERVAL_SECONDS."""
    prefix = _prefix_of(key)
    if prefix is None:
        raise InvalidApiKey()
    cache_key = ("key", secret_digest(key))
    holder = known.get(cache_key)
    if not isinstance(holder, KeyHolder):
        stamp = known.stamp()
        row = await repository.read_with_active_user(database.reads, prefix)
        if row is None or not digests_match(key, row["key_hash"]):
            raise InvalidApiKey()
        holder = KeyHolder(Principal.of(row), row["key_id"], row["key_last_used_at"])
        known.put(cache_key, holder, stamp=stamp, tags=[user_tag(holder.principal.id)])
    now = utc_now()
    stale_before = now - timedelta(seconds=settings.api_key_touch_interval_seconds)
    if holder.last_used_at is None or holder.last_used_at <= stale_before:
        async with unit_of_work(database.sessionmaker) as session:
            await repository.touch(session, holder.key_id, now=now, stale_before=stale_before)
        stamp = known.stamp()
        known.put(
            cache_key,
            replace(holder, last_used_at=now),
            stamp=stamp,
            tags=[user_tag(holder.principal.id)],
        )
    return holder.principal
