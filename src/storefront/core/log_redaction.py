"""Secrets that third-party log lines would otherwise carry.

uvicorn logs a WebSocket handshake with its full query string, and the live-update
socket takes its access token as `?token=`; such values are replaced before any line is
written.
"""

import re
from typing import Any

SECRET_QUERY_VALUE = re.compile(
    r"(?P<name>[?&](?:token|access_token|refresh_token|api_key|key|password)=)[^&\s\"']+",
    re.IGNORECASE,
)


def redact_url_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event = event_dict.get("event")
    if isinstance(event, str) and "=" in event:
        event_dict["event"] = SECRET_QUERY_VALUE.sub(r"\g<name>[redacted]", event)
    return event_dict
