"""Alembic, driven from code: `storefront migrate`, start-up checks and the tests."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from storefront.core.db import ensure_sqlite_directory

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(database_url: str, *, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    ensure_sqlite_directory(database_url)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
) -> bool:
    """What autogenerate compares. Objects named `search_*` are backend-specific full-text
    search structures (an FTS5 table and its shadow tables on SQLite, a tsvector column
    and its GIN index on PostgreSQL) that exist in migrations only, not in the models."""
    return not (reflected and compare_to is None and (name or "").startswith("search_"))
