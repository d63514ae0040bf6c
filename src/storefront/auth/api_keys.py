"""API keys: `sfk_<prefix>_<secret>`, shown once; only a digest of the whole key is kept."""

import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth import api_key_repository as repository
from storefront.auth.errors import ApiKeyNotFound, InvalidApiKey, TooManyApiKeys
from storefront.auth.models import ApiKey
from storefront.core.config import Settings
from storefront.core.security import digests_match, new_secret, secret_digest
from storefront.kit.models import utc_now
from storefront.kit.pagination import PageParams, PageResult, fetch_page
from storefront.users.models import User

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


async def create(session: AsyncSession, user: User, *, name: str) -> tuple[ApiKey, str]:
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
    session: AsyncSession, user: User, *, params: PageParams
) -> PageResult[ApiKey]:
    return await fetch_page(session, repository.listed(user_id=user.id), params)


async def delete(session: AsyncSession, user: User, *, key_id: int) -> None:
    """Revoke one of the user's keys; someone else's is as absent as a missing one."""
    if not await repository.delete_of_user(session, key_id, user_id=user.id):
        raise ApiKeyNotFound()


async def authenticate(session: AsyncSession, *, settings: Settings, key: str) -> User:
    prefix = _prefix_of(key)
    found = None if prefix is None else await repository.find_with_active_user(session, prefix)
    if found is None or not digests_match(key, found[0].key_hash):
        raise InvalidApiKey()
    api_key, user = found
    now = utc_now()
    stale_before = now - timedelta(seconds=settings.api_key_touch_interval_seconds)
    if api_key.last_used_at is None or api_key.last_used_at <= stale_before:
        await repository.touch(session, api_key.id, now=now, stale_before=stale_before)
    return user
