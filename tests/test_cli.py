"""The `storefront` command as an operator runs it: migrate, then serve with workers."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from storefront.cli import app as cli

STARTUP_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return {
        **env,
        "ENVIRONMENT": "development",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        **extra,
    }


def test_migrate_creates_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli.db").exists()


def test_unsafe_production_settings_are_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "SECRET_KEY" in result.stderr


def wait_until_live(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(f"{base_url}/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("the server did not become live")


def test_serve_with_two_workers_then_drain_on_sigterm(tmp_path: Path) -> None:
    env = environment(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    command = [sys.executable, "-m", "storefront.cli"]
    subprocess.run([*command, "migrate"], env=env, check=True, capture_output=True, timeout=60)
    port = free_port()
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_live(base_url, process)
        with httpx.Client(base_url=base_url, timeout=5) as client:
            for _ in range(20):
                assert client.get("/health/ready").status_code == 200
            metrics = client.get("/metrics").text
        # Both workers write their samples to the shared directory; a scrape sums them.
        assert 'http_requests_total{handler="/health/ready",method="GET",status="200"} 20.0' in (
            metrics
        )
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output.decode()
    assert b"docs at http://127.0.0.1" in output
