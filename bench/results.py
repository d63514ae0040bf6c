"""Reading back a results file: its raw rounds, to report them again (`--from-results`)
with the current analysis, without measuring again."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.analysis import Results, SameCoreResults
from bench.endpoints import ENDPOINTS, Endpoint, Mode
from bench.errors import BenchError
from bench.measure import Measurement, Run, SameCore
from bench.options import Options
from bench.server_logs import LogSummary
from bench.wrk import SocketErrors, WrkResult


@dataclass(frozen=True)
class Recorded:
    report: dict[str, Any]
    mode: Mode
    options: Options
    results: Results
    same_core: SameCoreResults


def _wrk(data: dict[str, Any]) -> WrkResult:
    return WrkResult(
        requests_per_second=data["requests_per_second"],
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
        requests=data["requests"],
        statuses={int(status): n for status, n in data["statuses"].items()},
        socket_errors=SocketErrors(**data["socket_errors"]),
    )


def _measurement(endpoint: Endpoint, data: dict[str, Any]) -> Measurement:
    run = data["run"]
    return Measurement(
        round=data["round"],
        expected_status=data.get("expected_status", endpoint.request.expected_status),
        observed_status=data["observed_status"],
        log=LogSummary(data["log"]["bytes"], data["log"]["notable"]),
        rss_bytes=data["rss_bytes"],
        run=Run(
            warmup_requests=run["warmup_requests"],
            idle_after_warmup=run["idle_after_warmup"],
            wrk=_wrk(run["wrk"]),
            flood=None if run["flood"] is None else _wrk(run["flood"]),
            flood_observed_status=run["flood_observed_status"],
        ),
    )


def _same_core(data: dict[str, Any]) -> SameCore:
    return SameCore(
        data["round"], _wrk(data["reference"]), _wrk(data["endpoint"]), data["idle_after_warmup"]
    )


def load(path: Path, output: Path) -> Recorded:
    try:
        report: dict[str, Any] = json.loads(path.read_text())
        known = {e.name: e for e in ENDPOINTS}
        rows = report["endpoints"]
        unknown = [row["name"] for row in rows if row["name"] not in known]
        if unknown:
            raise BenchError(f"{path}: endpoints no longer defined: {', '.join(unknown)}")
        endpoints = [known[row["name"]] for row in rows]
        settings = report["settings"]
        options = Options(
            duration=settings["duration"],
            connections=settings["connections"],
            rounds=settings["rounds"],
            warmup=settings["warmup"],
            same_core_seconds=settings["same_core_seconds"],
            endpoints=endpoints,
            output=output,
            overrides=settings["overrides"],
        )
        results = {
            e.name: [_measurement(e, m) for m in row["rounds"]]
            for e, row in zip(endpoints, rows, strict=True)
        }
        same_core = {
            row["name"]: [_same_core(m) for m in row["same_core_rounds"]]
            for row in rows
            if row["same_core_rounds"]
        }
        return Recorded(report, report["mode"], options, results, same_core)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BenchError(f"{path} is not a results file of this bench: {error!r}") from error
