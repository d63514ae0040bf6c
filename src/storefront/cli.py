"""The `storefront` command: serve, worker, migrate, openapi."""

import asyncio
import json
import os
import secrets
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from storefront.core import migrations
from storefront.core.config import Settings
from storefront.core.http_protocol import DEFAULT_MAX_CONNECTIONS, BoundedHttpProtocol
from storefront.core.logging import configure_logging
from storefront.jobs.worker import run_worker
from storefront.seeding import SEED_PASSWORD, Seeder, SeedReport

app = typer.Typer(
    help="Storefront: a production-grade FastAPI commerce backend.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _load_settings() -> Settings:
    try:
        return Settings()
    except ValueError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from error


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
) -> None:
    """Start the API server."""
    settings = _load_settings()
    if workers > 1:
        _prepare_multiprocess_metrics()
        if "secret_key" not in settings.model_fields_set:
            # Every worker must sign with the same generated development key.
            os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    if settings.serve_docs:
        typer.echo(f"Storefront on http://{host}:{port} - docs at http://{host}:{port}/docs")
    else:
        typer.echo(f"Storefront on http://{host}:{port}")
    uvicorn.run(
        "storefront.main:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
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
        # Protocol pings keep idle live-update sockets open through proxies and find dead
        # peers; frames beyond 64 KiB are refused before the app parses them.
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        ws_max_size=65_536,
    )


@app.command()
def worker(
    drain_timeout: Annotated[
        float, typer.Option(help="Seconds to let running jobs finish on SIGTERM.")
    ] = 30.0,
) -> None:
    """Run background jobs from Redis (production mode; needs REDIS_URL)."""
    settings = _load_settings()
    if not settings.redis_url:
        typer.secho(
            "storefront worker needs REDIS_URL; without it the API runs jobs itself",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=2)
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
    settings = _load_settings()
    configure_logging(settings)
    migrations.upgrade(settings.database_url)
    report = asyncio.run(_seed(settings, items=items, users=users, orders=orders, seed=random_seed))
    typer.echo(
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
    from storefront.core import migrations
    from storefront.core.logging import configure_logging

    settings = _load_settings()
    configure_logging(settings)
    migrations.upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


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

    settings = _load_settings()
    configure_logging(settings)
    try:
        user_id = asyncio.run(
            _create_admin(settings, email=email, password=password, full_name=full_name)
        )
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(map(str, problem["loc"])) or "input"
            typer.secho(f"{where}: {problem['msg']}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from error
    except EmailTaken as error:
        typer.secho(f"{email} already has an account", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"admin {email} created (id {user_id})")


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
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of stdout.")
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

    spec = create_app(Settings(_env_file=None, environment="test", docs_enabled=True)).openapi()
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    if check_breaking and output.exists():
        changes = breaking_changes(json.loads(output.read_text()), spec)
        for change in changes:
            typer.secho(f"breaking: {change}", fg=typer.colors.RED, err=True)
        if changes and not allow_breaking:
            typer.echo("refused; pass --allow-breaking (ALLOW_BREAKING=1) if deliberate", err=True)
            raise typer.Exit(code=1)
    output.write_text(text)


if __name__ == "__main__":
    app()
