"""`make run` as the README shows it: with REDIS_URL a job worker runs alongside, PORT
chooses the address, e-mail links follow it, and Ctrl-C ends both."""

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.fixtures.servers import REPO, free_port
from tests.fixtures.throwaway_redis import ThrowawayRedis, throwaway_redis

__all__ = ["throwaway_redis"]

DEADLINE_SECONDS = 60


def test_make_run_with_redis_runs_jobs_on_the_chosen_port(
    tmp_path: Path, throwaway_redis: ThrowawayRedis
) -> None:
    port = free_port()
    log = tmp_path / "run.log"
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "MAKEFLAGS"}},
        "ENVIRONMENT": "development",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        "STORAGE_DIR": str(tmp_path / "files"),
        "REDIS_URL": throwaway_redis.url,
    }
    with log.open("wb") as sink:
        # A session of its own: Ctrl-C reaches the whole foreground process group.
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        base_url = f"http://127.0.0.1:{port}"
        while f"Storefront on {base_url}" not in log.read_text():
            assert make.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        response = httpx.post(
            f"{base_url}/api/v1/users",
            json={"email": "run@example.com", "password": "password-123", "full_name": "Run"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        # The welcome mail is a job: only the worker consumes the Redis stream.
        while "job succeeded" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=DEADLINE_SECONDS)
    output = log.read_text()
    assert "worker started" in output
    assert f"{base_url}/docs" in output.split("Subject: Welcome")[1]
    assert "worker stopped" in output
    assert "Finished server process" in output
    assert "Traceback" not in output
