"""Throughput of Storefront endpoints against a bare FastAPI app, measured with wrk.

Each measurement starts a fresh single uvicorn worker pinned to CPU 0 and drives it with
wrk pinned to CPU 1. Rounds interleave the endpoints so drift hits all of them alike; the
report gives medians and each endpoint's ratio to the bare /ping measured in the same run.
"""

import argparse
import ctypes
import fnmatch
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import httpx
from rich.console import Console
from rich.table import Table

AppName = Literal["bare", "storefront"]

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SERVER_CPU = "0"
CLIENT_CPU = "1"
READY_TIMEOUT_SECONDS = 30.0
STOP_GRACE_SECONDS = 5.0
SETUP_TIMEOUT_SECONDS = 120.0
SETUP_ATTEMPTS = 10
PR_SET_PDEATHSIG = 1
REFERENCE = "bare-ping"
REPORTED_PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic")

console = Console(width=None if sys.stdout.isatty() else 132)


class BenchError(Exception):
    """The benchmark cannot run or cannot be trusted."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    app: AppName
    method: str
    path: str
    expected_status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    # Minimum share of the bare /ping throughput this endpoint should reach.
    target_ratio: float | None = None
    # Sent with a bearer access token of a user made for the run.
    authenticated: bool = False

    def lua_script(self) -> str | None:
        if self.method == "GET" and not self.headers and self.body is None:
            return None
        lines = [f"wrk.method = {_lua_string(self.method)}"]
        lines += [
            f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in self.headers.items()
        ]
        if self.body is not None:
            lines.append(f"wrk.body = {_lua_string(self.body)}")
        return "\n".join(lines) + "\n"


ENDPOINTS: list[Endpoint] = [
    Endpoint(REFERENCE, "bare", "GET", "/ping", 200),
    Endpoint("health-live", "storefront", "GET", "/health/live", 200, target_ratio=0.75),
    Endpoint("not-found", "storefront", "GET", "/nope-404", 404),
    Endpoint("users-me", "storefront", "GET", "/api/v1/users/me", 200, authenticated=True),
]
BENCH_USER = {"email": "bench@example.com", "password": "bench password 1", "full_name": "Bench"}
# One key for every server of the run, so that the token made once stays valid.
BENCH_SECRET_KEY = secrets.token_urlsafe(48)


@dataclass(frozen=True)
class AppTarget:
    uvicorn_args: tuple[str, ...]
    ready_path: str


APPS: dict[AppName, AppTarget] = {
    "bare": AppTarget(("--app-dir", str(BENCH_DIR), "bare_app:app"), "/ping"),
    "storefront": AppTarget(
        ("--factory", "storefront.main:create_app_from_environment"), "/health/live"
    ),
}


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: int


@dataclass(frozen=True)
class Measurement:
    round: int
    observed_status: int
    warmup_requests: int
    # Everything the server wrote (readiness polls, status check, warm-up and run included).
    log_bytes: int
    wrk: WrkResult


@dataclass(frozen=True)
class SameCore:
    """Both servers on CPU 0 at once, each loaded by its own wrk on CPU 1: the scheduler
    splits the core between them, so the ratio of their req/s is the inverse ratio of
    their cost per request, with the machine's drift acting on both at the same moment."""

    round: int
    reference_rps: float
    endpoint_rps: float
    problems: tuple[str, ...] = ()

    @property
    def ratio(self) -> float:
        return self.endpoint_rps / self.reference_rps


@dataclass(frozen=True)
class Options:
    duration: int
    connections: int
    rounds: int
    warmup: int
    endpoints: list[Endpoint]
    output: Path
    same_core_seconds: int


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal


# --- wrk ---------------------------------------------------------------------------------

LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
TOTAL_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)
NON_2XX_3XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def parse_wrk(output: str) -> WrkResult:
    rps = REQUESTS_PER_SECOND.search(output)
    total = TOTAL_REQUESTS.search(output)
    percentiles = {p: float(v) * LATENCY_UNITS_MS[u] for p, v, u in PERCENTILE.findall(output)}
    if rps is None or total is None or set(percentiles) != {"50", "99"}:
        raise BenchError(f"unexpected wrk output:\n{output}")
    socket_errors = SOCKET_ERRORS.search(output)
    non_2xx = NON_2XX_3XX.search(output)
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=int(total.group(1)),
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(map(int, socket_errors.groups())) if socket_errors else 0,
    )


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed: run `sudo apt-get install -y wrk` first")
    console.print("wrk is missing: installing it with apt-get")
    install = ["apt-get", "install", "-y", "wrk"]
    if _run_quietly(install) != 0:
        _run_quietly(["apt-get", "update"])
        if _run_quietly(install) != 0:
            raise BenchError("`apt-get install -y wrk` failed")
    return shutil.which("wrk") or "/usr/bin/wrk"


def _run_quietly(command: list[str]) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, capture_output=True, timeout=600, check=False, env=env)
    return done.returncode


def run_wrk(wrk: str, url: str, *, seconds: int, connections: int, script: Path | None) -> str:
    command = ["taskset", "-c", CLIENT_CPU, wrk, "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += ["--latency", *(["-s", str(script)] if script else []), url]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # Even a SIGKILLed harness must not leave a server behind.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE_SECONDS)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchError(f"server exited with {process.returncode}:\n{_tail(log)}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise BenchError(f"server not ready after {READY_TIMEOUT_SECONDS:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_server(app: AppName, env: Mapping[str, str], workdir: Path, log: Path) -> Iterator[str]:
    port = free_port()
    command = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "uvicorn"]
    command += [*APPS[app].uvicorn_args, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning", "--loop", "uvloop"]
    command += ["--http", "httptools"]
    base_url = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=workdir,  # away from the repository's .env
            start_new_session=True,  # Ctrl-C reaches the harness, which stops the server
            preexec_fn=_die_with_parent,
        )
        try:
            _wait_ready(process, base_url + APPS[app].ready_path, log)
            yield base_url
        finally:
            _stop(process)


def storefront_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["ENVIRONMENT"] = "development"
    env["LOG_JSON"] = "true"
    # DATABASE_URL and REDIS_URL from the harness's environment win, e.g. PostgreSQL/Redis.
    env["DATABASE_URL"] = os.environ.get("DATABASE_URL") or (
        f"sqlite+aiosqlite:///{workdir / 'storefront.db'}"
    )
    env["SECRET_KEY"] = BENCH_SECRET_KEY
    env["ACCESS_TOKEN_TTL_SECONDS"] = "86400"
    # The rate limiter still counts every request; its default budget would stop the run.
    env["RATE_LIMIT_DEFAULT"] = "1000000000/minute"
    env["FIRST_ADMIN_EMAIL"] = ""
    return env


def access_token(env: Mapping[str, str], workdir: Path) -> str:
    """Sign up the bench user (once per database) and sign in, on a server of its own."""
    log = workdir / "setup.log"
    with (
        running_server("storefront", env, workdir, log) as base_url,
        httpx.Client(base_url=base_url, timeout=10.0) as client,
    ):
        signed_up = client.post("/api/v1/users", json=BENCH_USER)
        if signed_up.status_code not in (201, 409):
            raise BenchError(f"sign-up failed: {signed_up.status_code} {signed_up.text}")
        form = {"username": BENCH_USER["email"], "password": BENCH_USER["password"]}
        # The welcome mail is sent in this process right after the sign-up: on SQLite,
        # whose writers queue, the sign-in may find the database busy for a moment.
        for _ in range(SETUP_ATTEMPTS):
            signed_in = client.post("/api/v1/auth/token", data=form)
            if signed_in.status_code != 503:
                break
            time.sleep(0.5)
        if signed_in.status_code != 200:
            raise BenchError(f"sign-in failed: {signed_in.status_code} {signed_in.text}")
    token: str = signed_in.json()["access_token"]
    return token


def with_credentials(endpoints: list[Endpoint], token: str) -> list[Endpoint]:
    return [
        replace(e, headers={**e.headers, "Authorization": f"Bearer {token}"})
        if e.authenticated
        else e
        for e in endpoints
    ]


def migrate(env: Mapping[str, str], workdir: Path) -> None:
    cli = Path(sysconfig.get_path("scripts")) / "storefront"
    done = subprocess.run(
        [str(cli), "migrate"],
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=workdir,
        timeout=SETUP_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"storefront migrate failed:\n{done.stdout}{done.stderr}")


# --- one measurement -----------------------------------------------------------------------


def check_status(base_url: str, endpoint: Endpoint) -> int:
    with httpx.Client(timeout=5.0) as client:
        response = client.request(
            endpoint.method,
            base_url + endpoint.path,
            headers=dict(endpoint.headers),
            content=endpoint.body,
        )
    return response.status_code


def server_env(endpoint: Endpoint, workdir: Path) -> dict[str, str]:
    return storefront_env(workdir) if endpoint.app == "storefront" else dict(os.environ)


def wrk_script(endpoint: Endpoint, workdir: Path) -> Path | None:
    """The Lua script that makes wrk send the endpoint's request, if a plain GET won't."""
    lua = endpoint.lua_script()
    if lua is None:
        return None
    script = workdir / f"{endpoint.name}.lua"
    script.write_text(lua)
    return script


def measure(
    endpoint: Endpoint, number: int, options: Options, wrk: str, workdir: Path
) -> Measurement:
    log = workdir / f"{endpoint.name}-round{number}.log"
    script = wrk_script(endpoint, workdir)
    with running_server(endpoint.app, server_env(endpoint, workdir), workdir, log) as base_url:
        observed = check_status(base_url, endpoint)
        url = base_url + endpoint.path
        warmup = run_wrk(
            wrk, url, seconds=options.warmup, connections=options.connections, script=script
        )
        output = run_wrk(
            wrk, url, seconds=options.duration, connections=options.connections, script=script
        )
    log_bytes = log.stat().st_size
    log.unlink()  # tens of MB per run: the size is what we keep
    return Measurement(number, observed, parse_wrk(warmup).requests, log_bytes, parse_wrk(output))


def measure_same_core(
    endpoint: Endpoint, number: int, options: Options, wrk: str, workdir: Path
) -> SameCore:
    reference = next(e for e in options.endpoints if e.name == REFERENCE)
    pair = (reference, endpoint)
    scripts = [wrk_script(e, workdir) for e in pair]
    logs = [workdir / f"same-core-{e.name}-{number}.log" for e in pair]
    servers = [
        running_server(e.app, server_env(e, workdir), workdir, log)
        for e, log in zip(pair, logs, strict=True)
    ]
    with servers[0] as reference_base, servers[1] as endpoint_base, ThreadPoolExecutor(2) as pool:
        urls = (reference_base + reference.path, endpoint_base + endpoint.path)

        def both(seconds: int) -> list[WrkResult]:
            runs = [
                pool.submit(
                    run_wrk,
                    wrk,
                    url,
                    seconds=seconds,
                    connections=options.connections,
                    script=script,
                )
                for url, script in zip(urls, scripts, strict=True)
            ]
            return [parse_wrk(run.result()) for run in runs]

        both(options.warmup)
        reference_run, endpoint_run = both(options.same_core_seconds)
    for log in logs:
        log.unlink()
    problems = [
        f"round {number} (same core): {e.name}: {problem}"
        for e, result in zip(pair, (reference_run, endpoint_run), strict=True)
        for problem in wrk_problems(e, result)
    ]
    return SameCore(
        number,
        reference_run.requests_per_second,
        endpoint_run.requests_per_second,
        tuple(problems),
    )


def wrk_problems(endpoint: Endpoint, result: WrkResult) -> list[str]:
    """Why a wrk run did not measure the endpoint's expected answer, if it did not."""
    problems: list[str] = []
    expected_failures = result.requests if endpoint.expected_status >= 400 else 0
    if result.non_2xx_3xx != expected_failures:
        problems.append(f"{result.non_2xx_3xx} of {result.requests} responses >= 400")
    if result.socket_errors:
        problems.append(f"{result.socket_errors} socket errors")
    return problems


def problems_of(endpoint: Endpoint, measurements: Sequence[Measurement]) -> list[str]:
    problems: list[str] = []
    for m in measurements:
        if m.observed_status != endpoint.expected_status:
            problems.append(f"round {m.round}: got status {m.observed_status}")
        problems += [f"round {m.round}: {problem}" for problem in wrk_problems(endpoint, m.wrk)]
    return problems


# --- the run -------------------------------------------------------------------------------


Results = dict[str, list[Measurement]]
SameCoreResults = dict[str, list[SameCore]]


def run_rounds(options: Options, wrk: str, workdir: Path) -> tuple[Results, SameCoreResults]:
    results: Results = {e.name: [] for e in options.endpoints}
    same_core: SameCoreResults = {e.name: [] for e in options.endpoints if e.name != REFERENCE}
    endpoints = options.endpoints
    if any(e.app == "storefront" for e in endpoints):
        migrate(storefront_env(workdir), workdir)
    if any(e.authenticated for e in endpoints):
        endpoints = with_credentials(endpoints, access_token(storefront_env(workdir), workdir))
    count = len(endpoints)
    for number in range(1, options.rounds + 1):
        # Rotate the order each round so no endpoint always runs first or last.
        shift = (number - 1) % count
        for endpoint in [*endpoints[shift:], *endpoints[:shift]]:
            console.print(f"round {number}/{options.rounds}: {endpoint.name}", style="dim")
            results[endpoint.name].append(measure(endpoint, number, options, wrk, workdir))
        if not options.same_core_seconds:
            continue
        for endpoint in endpoints:
            if endpoint.name != REFERENCE:
                console.print(
                    f"round {number}/{options.rounds}: {endpoint.name} and {REFERENCE}"
                    " on the same core",
                    style="dim",
                )
                same_core[endpoint.name].append(
                    measure_same_core(endpoint, number, options, wrk, workdir)
                )
    return results, same_core


def summarize(
    options: Options, results: Results, same_core: SameCoreResults
) -> list[dict[str, Any]]:
    reference = results[REFERENCE]
    summary: list[dict[str, Any]] = []
    for endpoint in options.endpoints:
        rounds = results[endpoint.name]
        # Paired within each round, so drift of the shared machine between rounds cancels.
        ratio = statistics.median(
            m.wrk.requests_per_second / ref.wrk.requests_per_second
            for m, ref in zip(rounds, reference, strict=True)
        )
        target = endpoint.target_ratio
        summary.append(
            {
                **asdict(endpoint),
                "median": {
                    "requests_per_second": statistics.median(
                        m.wrk.requests_per_second for m in rounds
                    ),
                    "p50_ms": statistics.median(m.wrk.p50_ms for m in rounds),
                    "p99_ms": statistics.median(m.wrk.p99_ms for m in rounds),
                    "log_bytes_per_request": statistics.median(
                        m.log_bytes / (m.warmup_requests + m.wrk.requests) for m in rounds
                    ),
                },
                "ratio_to_reference": round(ratio, 4),
                "same_core_ratio": _same_core_ratio(same_core.get(endpoint.name, [])),
                "same_core_rounds": [
                    {**asdict(m), "ratio": round(m.ratio, 4)}
                    for m in same_core.get(endpoint.name, [])
                ],
                "meets_target": None if target is None else ratio >= target,
                "problems": [
                    *problems_of(endpoint, rounds),
                    *(p for m in same_core.get(endpoint.name, []) for p in m.problems),
                ],
                "rounds": [asdict(m) for m in rounds],
            }
        )
    return summary


def _same_core_ratio(rounds: Sequence[SameCore]) -> float | None:
    return round(statistics.median(m.ratio for m in rounds), 4) if rounds else None


def render(options: Options, summary: list[dict[str, Any]]) -> Table:
    table = Table(
        title=f"wrk -t1 -c{options.connections} -d{options.duration}s, "
        f"median of {options.rounds} rounds (server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU})"
    )
    numbers = ("req/s", "p50 ms", "p99 ms", "vs bare", "same core", "spread", "log B/req")
    for name in ("endpoint", "request", *numbers):
        table.add_column(name, justify="right" if name in numbers else "left")
    table.add_column("target")
    table.add_column("check")
    for row in summary:
        all_rps = [r["wrk"]["requests_per_second"] for r in row["rounds"]]
        median = row["median"]
        target = "" if row["target_ratio"] is None else f"≥ {row['target_ratio']:.0%} "
        if row["meets_target"] is not None:
            target += "[green]met[/]" if row["meets_target"] else "[red]MISSED[/]"
        table.add_row(
            row["name"],
            f"{row['method']} {row['path']} → {row['expected_status']}",
            f"{median['requests_per_second']:,.0f}",
            f"{median['p50_ms']:.2f}",
            f"{median['p99_ms']:.2f}",
            f"{row['ratio_to_reference']:.0%}",
            "" if row["same_core_ratio"] is None else f"{row['same_core_ratio']:.0%}",
            f"{(max(all_rps) - min(all_rps)) / median['requests_per_second']:.1%}",
            f"{median['log_bytes_per_request']:.0f}",
            target,
            "[red]" + "; ".join(row["problems"]) + "[/]" if row["problems"] else "[green]ok[/]",
        )
    return table


def machine_info(wrk: str) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    wrk_version = subprocess.run(
        [wrk, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.splitlines()
    return {
        "cpu_model": model.group(1) if model else platform.processor(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "platform": platform.platform(),
        "python": sys.version,
        "packages": {name: metadata.version(name) for name in REPORTED_PACKAGES},
        "wrk": wrk_version[0] if wrk_version else "unknown",
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


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over all endpoints")
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
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    args = parser.parse_args(argv)
    if min(args.duration, args.connections, args.rounds, args.warmup) < 1:
        parser.error("--duration, --connections, --rounds and --warmup must be at least 1")
    if args.same_core < 0:
        parser.error("--same-core must be 0 or more")
    patterns = [p.strip() for value in args.only for p in value.split(",") if p.strip()]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatch(e.name, p) for e in ENDPOINTS)]
    if unmatched:
        parser.error(f"no endpoint matches {unmatched}; known: {[e.name for e in ENDPOINTS]}")
    endpoints = [
        e
        for e in ENDPOINTS
        if e.name == REFERENCE or not patterns or any(fnmatch.fnmatch(e.name, p) for p in patterns)
    ]
    return Options(
        args.duration,
        args.connections,
        args.rounds,
        args.warmup,
        endpoints,
        args.output,
        args.same_core,
    )


def check_machine() -> None:
    if shutil.which("taskset") is None:
        raise BenchError("taskset is missing (package util-linux)")
    cpus = os.sched_getaffinity(0)
    if not {int(SERVER_CPU), int(CLIENT_CPU)} <= cpus:
        raise BenchError(f"needs CPUs {SERVER_CPU} and {CLIENT_CPU}; this process may use {cpus}")


def _interrupt(signum: int, _: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    started = datetime.now(UTC)
    try:
        check_machine()
        wrk = ensure_wrk()
        with tempfile.TemporaryDirectory(prefix="storefront-bench-") as tmp:
            results, same_core = run_rounds(options, wrk, Path(tmp))
    except BenchError as error:
        console.print(f"[red]benchmark failed:[/] {error}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; servers stopped[/]")
        return 130
    summary = summarize(options, results, same_core)
    console.print(render(options, summary))
    settings = {k: v for k, v in asdict(options).items() if k not in ("endpoints", "output")}
    report = {
        "date": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "command": [sys.argv[0], *(sys.argv[1:] if argv is None else argv)],
        "machine": machine_info(wrk),
        "settings": {**settings, "threads": 1, "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU},
        "reference": REFERENCE,
        "endpoints": summary,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"results written to {options.output}")
    return 1 if any(row["problems"] for row in summary) else 0


if __name__ == "__main__":
    raise SystemExit(main())
