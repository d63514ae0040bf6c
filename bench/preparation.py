"""Before the rounds: a database to measure and the first admin's access token."""

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import database
from bench.configuration import ADMIN_EMAIL, RunConfig, database_name
from bench.errors import BenchError
from bench.servers import running_server
from bench.wrk import Catalog

SIGN_IN_ATTEMPTS = 10


@dataclass(frozen=True)
class Prepared:
    server_env: dict[str, str]
    access_token: str
    catalog: Catalog
    versions: dict[str, str] = field(default_factory=dict)


def prepare(config: RunConfig, workdir: Path, *, needs_token: bool) -> Prepared:
    env = config.server_env()
    if config.mode == "sqlite":
        database.migrate(env, workdir)
        token = sign_in(config, env, workdir) if needs_token else ""
        return Prepared(env, token, Catalog())
    database.require_bench_database(config.database_url)
    versions = database.server_versions(config.database_url, config.redis_url)
    print(f"emptying and seeding {database_name(config.database_url)!r}")
    started = time.monotonic()
    database.reset_postgresql(config.database_url)
    database.migrate(env, workdir)
    database.seed(env, workdir)
    catalog = database.prepare_catalog(config.database_url)
    print(f"seeded {catalog.items} items in {time.monotonic() - started:.0f} s")
    token = sign_in(config, env, workdir) if needs_token else ""
    return Prepared(env, token, catalog, versions)


def sign_in(config: RunConfig, env: dict[str, str], workdir: Path) -> str:
    """On a server of its own, which creates the first admin as it starts."""
    form = {"username": ADMIN_EMAIL, "password": config.admin_password}
    with (
        running_server("storefront", env, workdir, workdir / "sign-in.log") as server,
        httpx.Client(base_url=server.base_url, timeout=10.0) as client,
    ):
        # On SQLite, whose writers queue, the sign-in may find the database busy a moment.
        for _ in range(SIGN_IN_ATTEMPTS):
            signed_in = client.post("/api/v1/auth/token", data=form)
            if signed_in.status_code != 503:
                break
            time.sleep(0.5)
    if signed_in.status_code != 200:
        raise BenchError(f"the admin's sign-in failed: {signed_in.status_code} {signed_in.text}")
    token: str = signed_in.json()["access_token"]
    return token
