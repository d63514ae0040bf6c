"""Entity tags (RFC 9110 §8.8.3) and the conditional requests that use them."""

WEAK_PREFIX = "W/"


def quoted(opaque: str) -> str:
    return f'"{opaque}"'


def none_match(if_none_match: str | None, etag: str) -> bool:
    """True when If-None-Match names the current version: answer 304. Weak comparison."""
    if if_none_match is None:
        return False
    current = quoted(etag)
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix(WEAK_PREFIX) == current:
            return True
    return False


def strong_match(validator: str, etag: str) -> bool:
    """If-Range: only a strong tag equal to the current one matches (a date never does:
    no Last-Modified is sent)."""
    return validator.strip() == quoted(etag)
