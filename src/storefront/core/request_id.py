"""Request ids: a valid incoming X-Request-ID is kept, anything else is replaced."""

import re
from uuid import uuid4

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def is_valid_request_id(value: str) -> bool:
    return REQUEST_ID_PATTERN.fullmatch(value) is not None


def new_request_id() -> str:
    return uuid4().hex
