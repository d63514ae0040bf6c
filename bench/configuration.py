"""The mode of a run and the environment of its Storefront servers.

PostgreSQL + Redis when DATABASE_URL is postgresql+asyncpg://… and REDIS_URL is set:
production settings. Otherwise the embedded default: a fresh SQLite file, in-memory
backends, development settings with JSON logs. Storefront settings found in the
harness's own environment are not passed on (the bench sets what it measures); --set
adds deliberate ones.
"""

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.endpoints import Mode
from bench.errors import BenchError
from storefront.core.config import Settings

POSTGRESQL_SCHEME = "postgresql+asyncpg://"
ADMIN_EMAIL = "bench-admin@example.com"
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)
SECRET_SETTINGS = frozenset({"SECRET_KEY", "FIRST_ADMIN_PASSWORD"})


@dataclass(frozen=True)
class RunConfig:
    mode: Mode
    database_url: str
    redis_url: str
    # Tells this run's rate-limit budgets, Idempotency-Keys and flood addresses apart.
    run_id: str
    overrides: Mapping[str, str] = field(default_factory=dict)
    # One key for every server of the run, so that the token made once stays valid.
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))

    @property
    def settings(self) -> dict[str, str]:
        """The Storefront settings of every server of the run."""
        common = {
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": self.secret_key,
            "ACCESS_TOKEN_TTL_SECONDS": "86400",
            # The limiter still counts every request; its default budget would stop the run.
            "RATE_LIMIT_DEFAULT": "1000000000/minute",
            "FIRST_ADMIN_EMAIL": ADMIN_EMAIL,
            "FIRST_ADMIN_PASSWORD": self.admin_password,
        }
        if self.mode == "postgresql":
            mode = {
                "ENVIRONMENT": "production",
                "REDIS_URL": self.redis_url,
                "RATE_LIMIT_KEY_PREFIX": f"storefront-bench:{self.run_id}:ratelimit",
            }
        else:
            mode = {"ENVIRONMENT": "development", "LOG_JSON": "true"}
        return {**common, **mode, **self.overrides}

    def server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k.upper() not in SETTING_NAMES}
        return {**env, **self.settings}

    def public_settings(self) -> dict[str, str]:
        """The settings for the report: secrets out, the database password hidden."""
        shown = {k: v for k, v in self.settings.items() if k not in SECRET_SETTINGS}
        shown["DATABASE_URL"] = make_url(self.database_url).render_as_string(hide_password=True)
        return shown


def configure(environ: Mapping[str, str], workdir: Path, overrides: Mapping[str, str]) -> RunConfig:
    unknown = sorted(name for name in overrides if name.upper() not in SETTING_NAMES)
    if unknown:
        raise BenchError(f"--set names no Storefront setting: {', '.join(unknown)}")
    database_url = environ.get("DATABASE_URL", "")
    redis_url = environ.get("REDIS_URL", "")
    run_id = secrets.token_hex(4)
    if database_url.startswith(POSTGRESQL_SCHEME):
        if not redis_url:
            raise BenchError("the PostgreSQL mode runs production settings: set REDIS_URL too")
        return RunConfig("postgresql", database_url, redis_url, run_id, dict(overrides))
    if database_url and not database_url.startswith("sqlite"):
        raise BenchError(
            f"DATABASE_URL must be {POSTGRESQL_SCHEME}… (PostgreSQL mode) or unset / SQLite "
            "(the embedded default)"
        )
    sqlite_url = f"sqlite+aiosqlite:///{workdir / 'storefront.db'}"
    return RunConfig("sqlite", sqlite_url, "", run_id, dict(overrides))


def database_name(url: str) -> str:
    return make_url(url).database or ""
