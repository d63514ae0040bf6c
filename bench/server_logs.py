"""What a Storefront server logged during a measurement: its size (writing the access log
is part of the cost measured) and its warnings and errors, grouped by message."""

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

NOTABLE_LEVELS = frozenset({"warning", "error", "critical", "exception"})
QUIET_LEVELS = (b'"level":"info"', b'"level":"debug"')
MESSAGE_CHARS = 200


@dataclass(frozen=True)
class LogSummary:
    bytes: int
    # "<level>: <event>" (or "unstructured: <line>") -> lines.
    notable: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(n for key, n in self.notable.items() if not key.startswith("warning"))


def summarize_log(path: Path, *, structured: bool) -> LogSummary:
    size = path.stat().st_size
    if not structured:
        return LogSummary(size)
    notable: Counter[str] = Counter()
    with path.open("rb") as lines:
        for line in lines:
            if not line.strip() or any(quiet in line for quiet in QUIET_LEVELS):
                continue
            key = _notable_key(line)
            if key is not None:
                notable[key] += 1
    return LogSummary(size, dict(notable))


def _notable_key(line: bytes) -> str | None:
    text = line.decode(errors="replace").strip()
    try:
        record = json.loads(text)
    except ValueError:
        return f"unstructured: {text[:MESSAGE_CHARS]}"
    if not isinstance(record, dict):
        return f"unstructured: {text[:MESSAGE_CHARS]}"
    level = str(record.get("level", "")).lower()
    if level not in NOTABLE_LEVELS:
        return None
    event = str(record.get("event", ""))[:MESSAGE_CHARS]
    detail = record.get("error") or _exception_type(record.get("exception"))
    return f"{level}: {event}" + (f" ({detail})" if detail else "")


def _exception_type(exception: object) -> str:
    # structlog's dict tracebacks: a list of {"exc_type", "exc_value", "frames", ...}.
    if isinstance(exception, list) and exception and isinstance(exception[-1], dict):
        return str(exception[-1].get("exc_type", ""))
    return ""
