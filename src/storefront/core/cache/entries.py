"""Where a cached value lives in the backend, and the record stored for it.

Invalidation deletes *tokens*, not only entries. An entry remembers the tokens of its key
and tags as they were before its value was computed, and is served only while they are all
unchanged. So a value computed from data read before an invalidation never matches again,
even when its write lands after the invalidation (another process still computing).
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Lookup:
    key: str
    entry_key: str
    lock_key: str
    tags: tuple[str, ...]
    # The key's own token first, then one per tag, in `tags` order.
    token_keys: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    hit: bool
    value: Any
    tokens: tuple[str | None, ...]


def _require_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a cache {kind} is a non-empty string, not {name!r}")
    return name


def normalize_tags(tags: Collection[str]) -> tuple[str, ...]:
    if isinstance(tags, str):
        raise TypeError("tags is a collection of tags, not one string")
    return tuple(sorted({_require_name("tag", tag) for tag in tags}))


@dataclass(frozen=True)
class KeySpace:
    """Every backend key starts with `namespace`, so the cache shares Redis safely."""

    namespace: str

    def entry(self, key: str) -> str:
        return f"{self.namespace}entry:{key}"

    def lock(self, key: str) -> str:
        return f"{self.namespace}lock:{key}"

    def key_token(self, key: str) -> str:
        return f"{self.namespace}token:key:{key}"

    def tag_token(self, tag: str) -> str:
        return f"{self.namespace}token:tag:{tag}"

    def lookup(self, key: str, tags: Collection[str] = ()) -> Lookup:
        _require_name("key", key)
        unique_tags = normalize_tags(tags)
        return Lookup(
            key=key,
            entry_key=self.entry(key),
            lock_key=self.lock(key),
            tags=unique_tags,
            token_keys=(self.key_token(key), *map(self.tag_token, unique_tags)),
        )


def make_entry(value: object, lookup: Lookup, tokens: Sequence[str]) -> dict[str, object]:
    return {"value": value, "tags": list(lookup.tags), "tokens": list(tokens)}


def read_entry(raw: object, lookup: Lookup, tokens: Sequence[str | None]) -> Snapshot:
    current = tuple(tokens)
    if (
        isinstance(raw, dict)
        and "value" in raw
        and None not in current
        and raw.get("tags") == list(lookup.tags)
        and raw.get("tokens") == list(current)
    ):
        return Snapshot(hit=True, value=raw["value"], tokens=current)
    return Snapshot(hit=False, value=None, tokens=current)
