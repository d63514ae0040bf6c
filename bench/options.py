"""The command line: what to measure, how long, and where the report goes."""

import argparse
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.endpoints import ENDPOINTS, REFERENCE, Endpoint, Mode
from bench.errors import BenchError

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DESCRIPTION = "Throughput of Storefront endpoints against a bare FastAPI app, measured with wrk."


@dataclass(frozen=True)
class Options:
    duration: int
    connections: int
    rounds: int
    warmup: int
    same_core_seconds: int
    endpoints: list[Endpoint]
    output: Path
    overrides: dict[str, str] = field(default_factory=dict)


def select_endpoints(mode: Mode, patterns: Sequence[str]) -> list[Endpoint]:
    """The patterns' endpoints of this mode, plus what they are compared with."""
    available = [e for e in ENDPOINTS if mode in e.modes]
    chosen = {
        e.name
        for e in available
        if e.name == REFERENCE or not patterns or any(fnmatch.fnmatch(e.name, p) for p in patterns)
    }
    unmatched = [p for p in patterns if not any(fnmatch.fnmatch(e.name, p) for e in available)]
    if unmatched:
        known = ", ".join(e.name for e in available)
        raise BenchError(f"in the {mode} mode, no endpoint matches {unmatched}; known: {known}")
    chosen |= {e.flood.baseline for e in available if e.name in chosen and e.flood is not None}
    return [e for e in available if e.name in chosen]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=DESCRIPTION)
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument(
        "--connections",
        type=int,
        default=64,
        help="wrk connections (rows with their own keep them)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all endpoints")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="endpoint names (glob, repeatable or comma-separated); bare-ping always runs",
    )
    parser.add_argument(
        "--same-core",
        type=int,
        default=5,
        metavar="SECONDS",
        help="per round, also run each endpoint and bare /ping at once on the server CPU "
        "for SECONDS (0: skip)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Storefront setting for the servers (repeatable), e.g. DB_POOL_SIZE=20",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    parser.add_argument(
        "--from-results",
        type=Path,
        metavar="JSON",
        help="measure nothing: report an earlier run's rounds again (written to --output)",
    )
    args = parser.parse_args(argv)
    if min(args.duration, args.connections, args.rounds, args.warmup) < 1:
        parser.error("--duration, --connections, --rounds and --warmup must be at least 1")
    if args.same_core < 0:
        parser.error("--same-core must be 0 or more")
    if any("=" not in value for value in args.set):
        parser.error("--set takes NAME=VALUE")
    args.only = [p.strip() for value in args.only for p in value.split(",") if p.strip()]
    args.set = dict(value.split("=", 1) for value in args.set)
    return args
