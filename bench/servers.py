"""The servers under test: one uvicorn worker each, pinned to the server CPU, on a free
port, always stopped (SIGTERM, then SIGKILL) when the `with` block ends, however it ends."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.endpoints import AppName
from bench.errors import BenchError
from bench.processes import SERVER_CPU, die_with_parent

BENCH_DIR = Path(__file__).resolve().parent
READY_TIMEOUT_SECONDS = 30.0
STOP_GRACE_SECONDS = 5.0
IDLE_TIMEOUT_SECONDS = 30.0
IDLE_SAMPLE_SECONDS = 0.2
# At most this share of one CPU over a sample: the server is done with earlier requests.
IDLE_CPU_SHARE = 0.10
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class AppTarget:
    uvicorn_args: tuple[str, ...]
    ready_path: str


APPS: dict[AppName, AppTarget] = {
    "bare": AppTarget(
        ("--app-dir", str(BENCH_DIR), "bare_app:app", "--http", "httptools"), "/ping"
    ),
    # The HTTP protocol of `storefront serve`: httptools with its limits, at their defaults.
    "storefront": AppTarget(
        (
            "--factory",
            "storefront.main:create_app_from_environment",
            "--http",
            "storefront.core.http_protocol:BoundedHttpProtocol",
        ),
        "/health/live",
    ),
}


@dataclass
class Server:
    base_url: str
    pid: int
    log: Path
    # VmRSS just before the server was stopped.
    rss_bytes: int | None = None


def cpu_seconds(pid: int) -> float:
    # /proc/<pid>/stat: utime and stime are fields 14 and 15, after the "(comm)" field.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_idle(servers: list[Server]) -> float | None:
    """Wait until the servers have finished what an earlier wrk left them (wrk closes its
    connections when it stops, but a server still answers the requests it had read): a
    slow endpoint at 1,024 connections has seconds of such work. The seconds waited, or
    None if still busy after IDLE_TIMEOUT_SECONDS.
    """
    started = time.monotonic()
    before = [cpu_seconds(s.pid) for s in servers]
    while time.monotonic() < started + IDLE_TIMEOUT_SECONDS:
        time.sleep(IDLE_SAMPLE_SECONDS)
        after = [cpu_seconds(s.pid) for s in servers]
        used = [b - a for a, b in zip(before, after, strict=True)]
        if max(used) <= IDLE_CPU_SHARE * IDLE_SAMPLE_SECONDS:
            return round(time.monotonic() - started, 2)
        before = after
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_bytes(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise BenchError(f"unexpected VmRSS unit {unit!r}")
            return int(value) * 1024
    return None


@contextmanager
def running_server(
    app: AppName, env: Mapping[str, str], workdir: Path, log: Path
) -> Iterator[Server]:
    port = free_port()
    # taskset execs the server: the pid is the server's.
    command = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "uvicorn"]
    command += [*APPS[app].uvicorn_args, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning", "--loop", "uvloop"]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=workdir,  # away from the repository's .env
            start_new_session=True,  # Ctrl-C reaches the harness, which stops the server
            preexec_fn=die_with_parent,
        )
        server = Server(f"http://127.0.0.1:{port}", process.pid, log)
        try:
            _wait_ready(process, server.base_url + APPS[app].ready_path, log)
            yield server
            if process.poll() is not None:
                raise BenchError(f"server exited with {process.returncode}:\n{tail(log)}")
        finally:
            server.rss_bytes = rss_bytes(process.pid)
            _stop(process)


def _stop(process: "subprocess.Popen[bytes]") -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE_SECONDS)


def _wait_ready(process: "subprocess.Popen[bytes]", url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchError(f"server exited with {process.returncode}:\n{tail(log)}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise BenchError(f"server not ready after {READY_TIMEOUT_SECONDS:.0f} s:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
