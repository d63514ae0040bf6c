"""Operator mistakes, made with the real `storefront` command: one message naming the cause
and the fix, a non-zero exit, no traceback (unless LOG_LEVEL=DEBUG), no secret."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import environment

SECRETS = ("TopSecretButShort", "smtp-hunter2", "db-pass-42")


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storefront.cli", *args],
        env=environment(tmp_path, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def refused(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    for part in expected:
        assert part in result.stderr, output
    for secret in SECRETS:
        assert secret not in output
    return output


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nonsense://x", "DATABASE_URL is not a usable database URL"),
        (
            "postgresql+asyncpg://postgres:db-pass-42@127.0.0.1:1/x",
            "cannot reach the database at 127.0.0.1:1/x",
        ),
    ],
)
@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_a_bad_database_url_is_one_message(
    tmp_path: Path, command: str, url: str, expected: str
) -> None:
    output = refused(run(tmp_path, command, DATABASE_URL=url), expected, "DATABASE_URL")
    assert "Storefront on" not in output  # no banner for a server that never served


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", DATABASE_URL="nonsense://x", LOG_LEVEL="DEBUG")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_migrate_to_an_unknown_revision(tmp_path: Path) -> None:
    refused(run(tmp_path, "migrate", "nope"), "nope", "`storefront migrate` with no argument")


def test_create_admin_and_serve_on_an_unmigrated_database(tmp_path: Path) -> None:
    admin = run(
        tmp_path, "create-admin", "--email", "a@example.com", STOREFRONT_ADMIN_PASSWORD="pw-123456"
    )
    refused(admin, "not migrated", "storefront migrate")
    refused(run(tmp_path, "serve"), "not migrated", "storefront migrate")


def test_openapi_into_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "absent" / "openapi.json"
    refused(run(tmp_path, "openapi", "--output", str(missing)), "does not exist", "--output")


def test_a_port_in_use(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        output = refused(run(tmp_path, "serve", "--port", port), "port is in use", "--port")
    assert "Storefront on" not in output


def test_a_bad_setting_names_the_variable_not_the_field(tmp_path: Path) -> None:
    output = refused(run(tmp_path, "migrate", SMTP_PORT="abc"), "SMTP_PORT")
    assert "smtp_port" not in output
    assert "input_value" not in output


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_refused_production_start_names_variables_never_values(
    tmp_path: Path, command: str
) -> None:
    result = run(
        tmp_path,
        command,
        ENVIRONMENT="production",
        SECRET_KEY="TopSecretButShort",
        SMTP_PASSWORD="smtp-hunter2",
        DATABASE_URL="postgresql+asyncpg://u:db-pass-42@127.0.0.1:1/x",
        LOG_JSON="false",
    )
    output = refused(result, "SECRET_KEY", "REDIS_URL")
    assert result.returncode == 2
    assert "input_value" not in output


def test_with_json_logs_every_line_is_json(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", "nope", LOG_JSON="true")
    refused(result, "nope")
    lines = result.stderr.splitlines()
    assert lines
    assert [json.loads(line)["level"] for line in lines][-1] == "error"
    production = run(tmp_path, "migrate", ENVIRONMENT="production", SMTP_PASSWORD="smtp-hunter2")
    refused(production, "SECRET_KEY")
    assert all(json.loads(line) for line in production.stderr.splitlines())


def test_several_workers_without_redis_are_warned_about(tmp_path: Path) -> None:
    # Refused by the port in use after the warning: the warning comes first.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert run(tmp_path, "migrate").returncode == 0
        result = run(tmp_path, "serve", "--workers", "2", "--port", port)
    assert "warning: --workers without REDIS_URL" in result.stderr
    assert "REDIS_URL" in result.stderr
