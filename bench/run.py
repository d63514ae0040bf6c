"""Throughput of Storefront endpoints against a bare FastAPI app, measured with wrk.

Each measurement starts a fresh single uvicorn worker pinned to CPU 0 and drives it with
wrk pinned to CPU 1. Rounds interleave the endpoints so drift hits all of them alike; the
report gives medians and each endpoint's ratio to the bare /ping measured in the same round.
PostgreSQL + Redis with production settings when DATABASE_URL (postgresql+asyncpg://…)
and REDIS_URL are set, else the embedded default (SQLite). See bench/README.md.
"""

import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.analysis import Results, Row, SameCoreResults, TargetCheck, summarize
from bench.configuration import RunConfig, configure
from bench.endpoints import REFERENCE, RSS_TARGETS_MB, Mode
from bench.errors import BenchError
from bench.measure import Harness
from bench.options import Options, parse_args, select_endpoints
from bench.preparation import prepare
from bench.processes import CLIENT_CPU, SERVER_CPU
from bench.report import console, machine_info, print_report, row_json
from bench.results import load as load_results
from bench.wrk import TIMEOUT_SECONDS, Wrk, ensure_wrk


def run_rounds(harness: Harness) -> tuple[Results, SameCoreResults]:
    options = harness.options
    endpoints = options.endpoints
    results: Results = {e.name: [] for e in endpoints}
    same_core: SameCoreResults = {}
    started = time.monotonic()

    def progress(number: int, what: str) -> None:
        elapsed = time.monotonic() - started
        console.print(
            f"{elapsed / 60:4.1f} min  round {number}/{options.rounds}: {what}", style="dim"
        )

    for number in range(1, options.rounds + 1):
        # Rotate the order each round so no endpoint always runs first or last.
        shift = (number - 1) % len(endpoints)
        for endpoint in [*endpoints[shift:], *endpoints[:shift]]:
            progress(number, endpoint.name)
            results[endpoint.name].append(harness.measure(endpoint, number))
        if not options.same_core_seconds:
            continue
        for endpoint in (e for e in endpoints if e.same_core and e.app == "storefront"):
            progress(number, f"{endpoint.name} and {REFERENCE} on the same core")
            pairs = same_core.setdefault(endpoint.name, [])
            pairs.append(harness.measure_same_core(endpoint, number))
    return results, same_core


def rss_check(mode: Mode, rows: Sequence[Row]) -> TargetCheck | None:
    measured = [r.rss_mb for r in rows if r.endpoint.app == "storefront" and r.rss_mb is not None]
    if not measured:
        return None
    target = RSS_TARGETS_MB.get(mode)
    if target is None:
        return None
    return TargetCheck(f"< {target:.0f} MB", max(measured), max(measured) < target)


def check_machine() -> None:
    if shutil.which("taskset") is None:
        raise BenchError("taskset is missing (package util-linux)")
    cpus = os.sched_getaffinity(0)
    if not {int(SERVER_CPU), int(CLIENT_CPU)} <= cpus:
        raise BenchError(f"needs CPUs {SERVER_CPU} and {CLIENT_CPU}; this process may use {cpus}")


def _interrupt(signum: int, _: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _announce(config: RunConfig, options: Options) -> None:
    if config.mode == "sqlite":
        ignored = [name for name in ("DATABASE_URL", "REDIS_URL") if os.environ.get(name)]
        note = f" ({' and '.join(ignored)} ignored)" if ignored else ""
        console.print(f"SQLite mode: a fresh database, in-memory backends{note}")
    else:
        console.print("PostgreSQL + Redis mode, production settings")
    console.print(f"endpoints: {', '.join(e.name for e in options.endpoints)}")


def settings_json(options: Options, config: RunConfig) -> dict[str, Any]:
    settings = {k: v for k, v in asdict(options).items() if k not in ("endpoints", "output")}
    return {
        **settings,
        "threads": 1,
        "wrk_timeout_seconds": TIMEOUT_SECONDS,
        "server_cpu": SERVER_CPU,
        "client_cpu": CLIENT_CPU,
        "server_settings": config.public_settings(),
    }


def analyse(
    options: Options, mode: Mode, results: Results, same_core: SameCoreResults
) -> dict[str, Any]:
    """Print the report; return its JSON part that comes from the measurements."""
    rows = summarize(options.endpoints, mode, options.connections, results, same_core)
    rss = rss_check(mode, rows)
    print_report(options, mode, rows, rss)
    return {
        "rss": None if rss is None else asdict(rss),
        "problems": sum(len(row.problems) for row in rows),
        "endpoints": [
            row_json(row, same_core, [asdict(m) for m in results[row.endpoint.name]])
            for row in rows
        ],
    }


def write_report(path: Path, report: dict[str, Any]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"results written to {path}")
    return 1 if report["problems"] else 0


def execute(options: Options, config: RunConfig, workdir: Path, started: float) -> int:
    wrk_binary = ensure_wrk()
    _announce(config, options)
    needs_token = any(e.request.bearer for e in options.endpoints)
    prepared = prepare(config, workdir, needs_token=needs_token)
    seed = secrets.randbelow(1_000_000)
    wrk = Wrk(wrk_binary, run_id=config.run_id, seed=seed, catalog=prepared.catalog)
    results, same_core = run_rounds(Harness(options, wrk, workdir, prepared))
    measured = analyse(options, config.mode, results, same_core)
    console.print(f"measured in {time.time() - started:.0f} s")
    report = {
        "date": datetime.fromtimestamp(started, UTC).isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "duration_seconds": round(time.time() - started),
        "command": sys.argv,
        "mode": config.mode,
        "machine": machine_info(wrk.version(), prepared.versions),
        "settings": settings_json(options, config),
        "catalog": asdict(prepared.catalog),
        "wrk_seed": seed,
        "reference": REFERENCE,
        **measured,
    }
    return write_report(options.output, report)


def report_again(source: Path, output: Path) -> int:
    """The report of an earlier run, from its raw rounds, with the current analysis."""
    recorded = load_results(source, output)
    console.print(f"the {recorded.mode} run of {recorded.report['date']}, reported again")
    measured = analyse(recorded.options, recorded.mode, recorded.results, recorded.same_core)
    reported = {"reported_again": datetime.now(UTC).isoformat(), "reported_from": str(source)}
    return write_report(output, {**recorded.report, **reported, **measured})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.time()
    try:
        if args.from_results is not None:
            return report_again(args.from_results, args.output)
        check_machine()
        with tempfile.TemporaryDirectory(prefix="storefront-bench-") as tmp:
            workdir = Path(tmp)
            config = configure(os.environ, workdir, args.set)
            options = Options(
                duration=args.duration,
                connections=args.connections,
                rounds=args.rounds,
                warmup=args.warmup,
                same_core_seconds=args.same_core,
                endpoints=select_endpoints(config.mode, args.only),
                output=args.output,
                overrides=args.set,
            )
            return execute(options, config, workdir, started)
    except BenchError as error:
        console.print(f"[red]benchmark failed:[/] {error}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; servers stopped[/]")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
