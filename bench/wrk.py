"""Driving wrk: one thread pinned to the client CPU, a Lua script per request, and the
parsing of what it prints (the script adds a line of response counts by status)."""

import itertools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench.errors import BenchError
from bench.processes import CLIENT_CPU, die_with_parent

# wrk's own default, passed explicitly so the report can state it.
TIMEOUT_SECONDS = 2
LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
TOTAL_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)
STATUSES = re.compile(r"^Statuses:(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class SocketErrors:
    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0

    @property
    def total(self) -> int:
        return self.connect + self.read + self.write + self.timeout

    def __add__(self, other: "SocketErrors") -> "SocketErrors":
        return SocketErrors(
            self.connect + other.connect,
            self.read + other.read,
            self.write + other.write,
            self.timeout + other.timeout,
        )


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    statuses: dict[int, int]
    socket_errors: SocketErrors = field(default_factory=SocketErrors)


def parse_wrk(output: str) -> WrkResult:
    rps = REQUESTS_PER_SECOND.search(output)
    total = TOTAL_REQUESTS.search(output)
    statuses = STATUSES.search(output)
    percentiles = {p: float(v) * LATENCY_UNITS_MS[u] for p, v, u in PERCENTILE.findall(output)}
    if rps is None or total is None or statuses is None or set(percentiles) != {"50", "99"}:
        raise BenchError(f"unexpected wrk output:\n{output}")
    errors = SOCKET_ERRORS.search(output)
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=int(total.group(1)),
        statuses={
            int(status): int(count)
            for status, count in (pair.split("=") for pair in statuses.group(1).split())
        },
        socket_errors=SocketErrors(*map(int, errors.groups())) if errors else SocketErrors(),
    )


@dataclass(frozen=True)
class Load:
    """What one wrk run sends: to `url`, the requests of `script`."""

    url: str
    script: Path
    connections: int


@dataclass(frozen=True)
class Catalog:
    """The seeded items the scripts draw from (one dummy item where none are seeded)."""

    first_id: int = 1
    last_id: int = 1
    pages: int = 1


class WrkRun:
    """A running wrk; leaving the `with` block stops it if it still runs."""

    def __init__(self, command: list[str], seconds: int) -> None:
        self.seconds = seconds
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,
        )

    def result(self) -> WrkResult:
        try:
            stdout, stderr = self.process.communicate(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired as error:
            raise BenchError(f"wrk did not finish within {self.seconds + 30} s") from error
        if self.process.returncode != 0:
            raise BenchError(f"wrk failed ({self.process.returncode}): {stderr or stdout}")
        if stderr.strip():
            # A failing Lua script is reported here, while wrk goes on.
            raise BenchError(f"wrk reported: {stderr.strip()}")
        return parse_wrk(stdout)

    def __enter__(self) -> "WrkRun":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Wrk:
    def __init__(self, binary: str, *, run_id: str, seed: int, catalog: Catalog) -> None:
        self.binary = binary
        self.run_id = run_id
        self.seed = seed
        self.catalog = catalog
        self._runs = itertools.count(1)

    def start(self, load: Load, seconds: int) -> WrkRun:
        number = next(self._runs)
        command = ["taskset", "-c", CLIENT_CPU, self.binary, "-t1", f"-c{load.connections}"]
        command += [f"-d{seconds}s", f"--timeout={TIMEOUT_SECONDS}s", "--latency"]
        command += ["-s", str(load.script), load.url, "--", f"{self.run_id}-{number}"]
        catalog = self.catalog
        command += [str(self.seed + 1000 * number), str(catalog.first_id), str(catalog.last_id)]
        command.append(str(catalog.pages))
        return WrkRun(command, seconds)

    def run(self, load: Load, seconds: int) -> WrkResult:
        with self.start(load, seconds) as run:
            return run.result()

    def version(self) -> str:
        done = subprocess.run(
            [self.binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        lines = done.stdout.splitlines()
        return lines[0] if lines else "unknown"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed: run `sudo apt-get install -y wrk` first")
    print("wrk is missing: installing it with apt-get")
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
