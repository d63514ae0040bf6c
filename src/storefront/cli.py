"""The `storefront` command: serve, worker, migrate, openapi."""

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from uvicorn.supervisors import Multiprocess

from storefront.cli_operator import (
    OperatorError,
    Output,
    bind,
    database_errors,
    require_migrated,
)
from storefront.core import migrations
from storefront.core.config import Settings, load_settings
from storefront.core.http_protocol import DEFAULT_MAX_CONNECTIONS, BoundedHttpProtocol
from storefront.core.logging import configure_logging
from storefront.jobs.worker import run_worker
from storefront.seeding import SEED_PASSWORD, Seeder, SeedReport

app = typer.Typer(
    help="Storefront: a production-grade FastAPI commerce backend.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@contextmanager
def _command() -> Iterator[tuple[Settings, Output]]:
    output = Output()
    with output.explained():
        settings = load_settings()
        output.json_logs, output.debug = settings.json_logs, settings.log_level == "DEBUG"
        yield settings, output


def _prepare_multiprocess_metrics() -> None:
    """Workers share metrics through files; stale files from an earlier run would lie."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(configured or tempfile.mkdtemp(prefix="storefront-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes.")] = 1,
    graceful_timeout: Annotated[int, typer.Option(help="Seconds to drain on SIGTERM.")] = 30,
    proxy_headers: Annotated[
        bool, typer.Option(help="Trust X-Forwarded-* from --forwarded-allow-ips.")
    ] = False,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxies trusted for X-Forwarded-*.")
    ] = "127.0.0.1",
    max_connections: Annotated[
        int, typer.Option(min=1, help="Connections per process; beyond, 503 with Retry-After.")
    ] = DEFAULT_MAX_CONNECTIONS,
    with_job_worker: Annotated[
        bool, typer.Option(help="Also run `storefront worker` when REDIS_URL is set (make run).")
    ] = False,
) -> None:
    """Start the API server."""
    with _command() as (settings, output):
        if workers > 1 and not settings.redis_url:
            output.say(SPLIT_STATE_WARNING, level="warning")
        with database_errors(settings.database_url):
            asyncio.run(require_migrated(settings))
        sock = bind(host, port)
        _share_with_processes(settings, host=host, port=port, workers=workers)
        config = uvicorn.Config(
            "storefront.main:create_app_from_environment",
            factory=True,
            workers=workers,
            # httptools with bounded request heads, a head deadline and the connection cap.
            http=BoundedHttpProtocol,
            limit_concurrency=max_connections,
            access_log=False,
            log_config=None,
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips,
            server_header=False,
            timeout_graceful_shutdown=graceful_timeout,
            # Protocol pings keep idle live-update sockets open through proxies and find
            # dead peers; frames beyond 64 KiB are refused before the app parses them.
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
            ws_max_size=65_536,
        )
        address = f"http://{host}:{port}"
        banner = f"Storefront on {address}" + (
            f" - docs at {address}/docs" if settings.serve_docs else ""
        )
        job_worker = _start_job_worker() if with_job_worker and settings.redis_url else None
        # uvicorn re-raises the SIGTERM it drained for; this ends the command instead, so
        # that the job worker is stopped too.
        signal.signal(signal.SIGTERM, _exit_drained)
        try:
            if workers > 1:
                output.say(banner, url=address)
                Multiprocess(config, sockets=[sock]).run()
            else:
                server = AnnouncingServer(config, announce=partial(output.say, banner, url=address))
                server.run(sockets=[sock])
                if not server.started:
                    raise typer.Exit(code=3)
        except KeyboardInterrupt:
            pass
        finally:
            if job_worker is not None:
                job_worker.send_signal(signal.SIGTERM)
                job_worker.wait()


SPLIT_STATE_WARNING = (
    "--workers without REDIS_URL: each process keeps its own rate limits, live-update rooms, "
    "caches and job runner (limits multiply, a message reaches only the sockets of the "
    "process it came from); set REDIS_URL for several processes"
)


class AnnouncingServer(uvicorn.Server):
    """Announces the address once it serves: after the socket is bound and start-up is done."""

    def __init__(self, config: uvicorn.Config, *, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.announce()


def _exit_drained(signum: int, frame: object) -> None:
    raise typer.Exit(code=0)


def _share_with_processes(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """What the API processes and the job worker read from the environment must agree."""
    if workers > 1:
        _prepare_multiprocess_metrics()
        if "secret_key" not in settings.model_fields_set:
            # Every worker must sign with the same generated development key.
            os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    if "public_base_url" not in settings.model_fields_set:
        # E-mail links follow the address served; a wildcard address is reached locally.
        link_host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
        link_host = f"[{link_host}]" if ":" in link_host else link_host
        os.environ["PUBLIC_BASE_URL"] = f"http://{link_host}:{port}"


def _start_job_worker() -> "subprocess.Popen[bytes]":
    return subprocess.Popen([sys.executable, "-m", "storefront.cli", "worker"])


@app.command()
def worker(
    drain_timeout: Annotated[
        float, typer.Option(help="Seconds to let running jobs finish on SIGTERM.")
    ] = 30.0,
) -> None:
    """Run background jobs from Redis (production mode; needs REDIS_URL)."""
    with _command() as (settings, output):
        if not settings.redis_url:
            output.fail("storefront worker needs REDIS_URL; without it the API runs jobs itself")
        configure_logging(settings)
        asyncio.run(run_worker(settings, drain_timeout=drain_timeout))


@app.command()
def seed(
    items: Annotated[int, typer.Option(min=0, help="Items to create.")] = 100,
    users: Annotated[int, typer.Option(min=0, help="Users to create.")] = 20,
    orders: Annotated[int, typer.Option(min=0, help="Orders to place.")] = 200,
    random_seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed, for the same data again.")
    ] = None,
) -> None:
    """Fill the database with realistic items, users and orders, through the services."""
    with _command() as (settings, output), database_errors(settings.database_url):
        configure_logging(settings)
        migrations.upgrade(settings.database_url)
        report = asyncio.run(
            _seed(settings, items=items, users=users, orders=orders, seed=random_seed)
        )
    output.say(
        f"Seeded {report.items} items, {report.users} users (password: {SEED_PASSWORD}), "
        f"{report.orders} orders ({report.orders_refused} refused for lack of stock)."
    )


async def _seed(
    settings: Settings, *, items: int, users: int, orders: int, seed: int | None
) -> SeedReport:
    seeder = Seeder(settings, seed=seed)
    columns = (
        TextColumn("{task.description:>6}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns) as progress:
            for name, count, step in (
                ("items", items, seeder.items),
                ("users", users, seeder.users),
                ("orders", orders, seeder.orders),
            ):
                if count:
                    task = progress.add_task(name, total=count)
                    await step(count, partial(progress.advance, task))
    finally:
        await seeder.aclose()
    return seeder.report


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations (upgrade to REVISION)."""
    with _command() as (settings, output), database_errors(settings.database_url):
        configure_logging(settings)
        migrations.upgrade(settings.database_url, revision)
    output.say(f"database at {revision}")


@app.command()
def create_admin(
    email: Annotated[str, typer.Option(prompt=True, help="The admin's e-mail address.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="STOREFRONT_ADMIN_PASSWORD",
            help="8 to 128 characters; asked for when not given.",
        ),
    ],
    full_name: Annotated[str, typer.Option(help="The admin's name.")] = "Administrator",
) -> None:
    """Create an admin account (in a migrated database)."""
    from pydantic import ValidationError

    from storefront.users.errors import EmailTaken

    with _command() as (settings, output), database_errors(settings.database_url):
        configure_logging(settings)
        asyncio.run(require_migrated(settings))
        try:
            user_id = asyncio.run(
                _create_admin(settings, email=email, password=password, full_name=full_name)
            )
        except ValidationError as error:
            problems = (
                f"{'.'.join(map(str, p['loc'])) or 'input'}: {p['msg']}" for p in error.errors()
            )
            output.fail("; ".join(problems), code=2)
        except EmailTaken as error:
            raise OperatorError(
                f"{email} already has an account; choose another address for the new admin"
            ) from error
    output.say(f"admin {email} created (id {user_id})")


async def _create_admin(settings: Settings, *, email: str, password: str, full_name: str) -> int:
    from storefront.core.db import Database
    from storefront.users.bootstrap import create_admin

    database = Database(settings)
    try:
        user = await create_admin(
            database, settings, email=email, password=password, full_name=full_name
        )
        return user.id
    finally:
        await database.dispose()


@app.command()
def openapi(
    destination: Annotated[
        Path | None,
        typer.Option("--output", help="Write to this file instead of stdout."),
    ] = None,
    check_breaking: Annotated[
        bool, typer.Option(help="Refuse to overwrite OUTPUT with a breaking change.")
    ] = False,
    allow_breaking: Annotated[
        bool, typer.Option(help="Overwrite even so: the break is deliberate.")
    ] = False,
) -> None:
    """Print the OpenAPI document, or update a snapshot of it."""
    from storefront.kit.openapi_diff import breaking_changes
    from storefront.main import create_app

    output = Output()
    if destination is not None and not destination.parent.is_dir():
        output.fail(
            f"cannot write {destination}: the folder {destination.parent} does not exist; "
            "create it or choose another --output"
        )
    spec = create_app(Settings(_env_file=None, environment="test", docs_enabled=True)).openapi()
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    if destination is None:
        sys.stdout.write(text)
        return
    if check_breaking and destination.exists():
        changes = breaking_changes(json.loads(destination.read_text()), spec)
        for change in changes:
            output.say(f"breaking: {change}", level="error")
        if changes and not allow_breaking:
            output.fail("refused; pass --allow-breaking (ALLOW_BREAKING=1) if deliberate")
    try:
        destination.write_text(text)
    except OSError as error:
        output.fail(f"cannot write {destination}: {error.strerror}; choose another --output")


if __name__ == "__main__":
    app()
