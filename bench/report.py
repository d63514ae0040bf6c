"""The report: tables on the console, everything (raw rounds included) as JSON."""

import os
import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.analysis import Row, SameCoreResults, TargetCheck
from bench.endpoints import Mode
from bench.options import Options
from bench.processes import CLIENT_CPU, SERVER_CPU
from bench.wrk import TIMEOUT_SECONDS, SocketErrors

BENCH_DIR = Path(__file__).resolve().parent
REPORTED_PACKAGES = (
    "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "sqlalchemy",
    "asyncpg", "redis",
)  # fmt: skip
MODE_TITLES: dict[Mode, str] = {
    "postgresql": "PostgreSQL + Redis, production settings",
    "sqlite": "SQLite + in-memory backends (embedded default), development settings",
}

console = Console(width=None if sys.stdout.isatty() else 140)


def _met(check: TargetCheck) -> str:
    return f"{check.label} " + ("[green]met[/]" if check.met else "[red]MISSED[/]")


def _statuses(counts: dict[int, int], expected: int | None) -> str:
    """Every status but the expected one, as `status: count`."""
    others = {s: n for s, n in counts.items() if s != expected}
    return " ".join(f"{s}: {n:,}" for s, n in others.items()) or "—"


def _socket_errors(errors: SocketErrors) -> str:
    if not errors.total:
        return "—"
    parts = [("connect", errors.connect), ("read", errors.read), ("write", errors.write)]
    parts.append(("timeout", errors.timeout))
    return " ".join(f"{name} {n:,}" for name, n in parts if n)


def requests_table(rows: Sequence[Row]) -> Table:
    table = Table(title="What each endpoint sends ({item}, {page}, {unique}: new per request)")
    for name in ("endpoint", "request", "auth", "expected", "conns"):
        table.add_column(name, justify="right" if name == "conns" else "left")
    for row in rows:
        endpoint = row.endpoint
        request = endpoint.request
        expected = ", ".join(map(str, [request.expected_status, *endpoint.tolerated_statuses]))
        table.add_row(
            endpoint.name,
            f"{request.method} {request.path}",
            "bearer" if request.bearer else "anonymous",
            expected + (" tolerated" if endpoint.tolerated_statuses else ""),
            str(row.connections),
        )
        if endpoint.flood is not None:
            flood = endpoint.flood.request
            accepted = ", ".join(map(str, sorted(endpoint.flood.accepted_statuses)))
            table.add_row(
                "  + flood",
                f"{flood.method} {flood.path} (a new unknown account each)",
                "anonymous",
                accepted,
                str(endpoint.flood.connections),
            )
    return table


def throughput_table(options: Options, mode: Mode, rows: Sequence[Row]) -> Table:
    table = Table(
        title=f"{MODE_TITLES[mode]}\nmedians of {options.rounds} rounds of wrk -t1 "
        f"-d{options.duration}s --timeout {TIMEOUT_SECONDS}s; servers on CPU {SERVER_CPU}, "
        f"wrk on CPU {CLIENT_CPU}"
    )
    numbers = ("conns", "req/s", "p50 ms", "p99 ms", "vs bare", "same core", "spread")
    for name in ("endpoint", *numbers, "target", "check"):
        table.add_column(name, justify="right" if name in numbers else "left")
    for row in rows:
        problems = len(row.problems)
        table.add_row(
            row.endpoint.name,
            str(row.connections),
            f"{row.requests_per_second:,.0f}",
            f"{row.p50_ms:.2f}",
            f"> {TIMEOUT_SECONDS * 1000}" if row.p99_censored else f"{row.p99_ms:.2f}",
            f"{row.ratio:.3f}",
            "" if row.same_core_ratio is None else f"{row.same_core_ratio:.3f}",
            f"{row.spread:.1%}",
            "\n".join(_met(check) for check in row.targets),
            f"[red]{problems} problem{'s' if problems > 1 else ''}[/]"
            if problems
            else "[green]ok[/]",
        )
    return table


def answers_table(rows: Sequence[Row]) -> Table:
    table = Table(title="Answers over all rounds, and the servers")
    numbers = ("answers", "RSS MB", "log B/req", "log warn/err")
    for name in ("endpoint", *numbers[:1], "other statuses", "socket errors", *numbers[1:]):
        table.add_column(name, justify="right" if name in numbers else "left")
    for row in rows:
        expected = row.endpoint.request.expected_status
        answers = f"{sum(row.statuses.values()):,}"
        statuses = _statuses(row.statuses, expected)
        errors = _socket_errors(row.socket_errors)
        if row.flood is not None:
            answers += f"\nflood: {sum(row.flood.statuses.values()):,}"
            statuses += f"\nflood: {_statuses(row.flood.statuses, None)}"
            errors += f"\nflood: {_socket_errors(row.flood.socket_errors)}"
        storefront = row.endpoint.app == "storefront"
        table.add_row(
            row.endpoint.name,
            answers,
            statuses,
            errors,
            "" if row.rss_mb is None else f"{row.rss_mb:.1f}",
            f"{row.log_bytes_per_request:.0f}" if storefront else "",
            str(sum(row.log_notable.values())) if storefront else "",
        )
    return table


def print_report(
    options: Options, mode: Mode, rows: Sequence[Row], rss: TargetCheck | None
) -> None:
    console.print(requests_table(rows))
    console.print(throughput_table(options, mode, rows))
    console.print(answers_table(rows))
    for row in rows:
        if row.flood is not None:
            console.print(
                f"{row.endpoint.name}: {row.flood.requests_per_second:,.0f} sign-ins/s alongside; "
                f"{row.endpoint.request.path} kept {row.flood.ratio:.3f} of {row.flood.baseline}"
            )
    largest = max(
        (r.rss_mb for r in rows if r.endpoint.app == "storefront" and r.rss_mb), default=0
    )
    verdict = f": {_met(rss)}" if rss is not None else ""
    console.print(
        f"largest Storefront worker RSS, read after the run once idle: {largest:.1f} MB{verdict}"
    )
    for row in rows:
        for problem in row.problems:
            console.print(f"[red]problem[/] {row.endpoint.name}: {problem}")
        for line, count in list(row.log_notable.items())[:5]:
            console.print(f"[yellow]logged[/] {row.endpoint.name}: {count} lines {line}")


def row_json(row: Row, same_core: SameCoreResults, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    endpoint = row.endpoint
    request = endpoint.request
    return {
        "name": endpoint.name,
        "app": endpoint.app,
        "request": {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            "body": request.body,
            "bearer": request.bearer,
            "expected_status": request.expected_status,
        },
        "connections": row.connections,
        "median": {
            "requests_per_second": row.requests_per_second,
            "p50_ms": row.p50_ms,
            "p99_ms": row.p99_ms,
            "p99_censored": row.p99_censored,
            "log_bytes_per_request": row.log_bytes_per_request,
        },
        "ratio_to_reference": round(row.ratio, 4),
        "same_core_ratio": None if row.same_core_ratio is None else round(row.same_core_ratio, 4),
        "spread": round(row.spread, 4),
        "rss_mb_max": row.rss_mb,
        "statuses": row.statuses,
        "socket_errors": asdict(row.socket_errors),
        "tolerated_statuses": sorted(endpoint.tolerated_statuses),
        "flood": None
        if row.flood is None
        else {**asdict(row.flood), "ratio": round(row.flood.ratio, 4)},
        "targets": [asdict(check) for check in row.targets],
        "problems": row.problems,
        "log_notable": row.log_notable,
        "same_core_rounds": [
            {**asdict(m), "ratio": round(m.ratio, 4)} for m in same_core.get(endpoint.name, [])
        ],
        "rounds": rounds,
    }


def machine_info(wrk_version: str, versions: dict[str, str]) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return {
        "cpu_model": model.group(1) if model else platform.processor(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "platform": platform.platform(),
        "python": sys.version,
        "packages": {name: metadata.version(name) for name in REPORTED_PACKAGES},
        "wrk": wrk_version,
        "servers": versions,
        "git_commit": _git("describe", "--always", "--dirty"),
        # Uncommitted changes measured along with the commit.
        "git_changes": _git("status", "--porcelain", "--untracked-files=no").splitlines(),
    }


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(BENCH_DIR), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout.strip()
