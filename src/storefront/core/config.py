"""The one typed configuration of Storefront, read once and passed in."""

import ipaddress
import re
import secrets
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

Environment = Literal["development", "test", "production"]
# OTLP's transports that the OpenTelemetry SDK for Python has exporters for.
OtlpProtocol = Literal["http/protobuf", "grpc"]
RATE_PATTERN = re.compile(r"^\d+/(second|minute|hour|day)$")
WEAK_SECRETS = frozenset({"", "secret", "changeme", "change-me", "dev", "development"})
MIN_PRODUCTION_SECRET_LENGTH = 32


class UnsafeConfigurationError(ValueError):
    """Raised when production settings would be unsafe."""


class ConfigurationError(ValueError):
    """Settings refused. Its message names each variable and the reason, never a value:
    pydantic's own repeats the input, secrets included."""

    def __init__(self, problems: list[str], *, json_logs: bool, debug: bool) -> None:
        super().__init__("; ".join(problems))
        self.json_logs = json_logs
        self.debug = debug


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    environment: Environment = "development"
    database_url: str = "sqlite+aiosqlite:///./var/storefront.db"
    redis_url: str = ""
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(48)))
    access_token_ttl_seconds: int = Field(default=900, gt=0)
    refresh_token_ttl_seconds: int = Field(default=2_592_000, gt=0)
    # Empty: no first admin at start-up (`storefront create-admin` makes one).
    first_admin_email: str = "admin@example.com"
    first_admin_password: SecretStr | None = None
    # Identity. Access tokens signed with PREVIOUS_SECRET_KEY are still accepted, so the
    # key can rotate without logging everybody out.
    previous_secret_key: SecretStr | None = None
    jwt_issuer: str = "storefront"
    jwt_audience: str = "storefront-api"
    password_reset_ttl_seconds: int = Field(default=3600, gt=0)
    # Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane). At most
    # `concurrency` hashes run at once, in threads; beyond `max_waiting` more waiting the
    # API answers 503 instead of queueing a login flood without bound.
    password_hash_time_cost: int = Field(default=2, ge=1)
    password_hash_memory_kib: int = Field(default=19_456, ge=8)
    password_hash_parallelism: int = Field(default=1, ge=1)
    password_hash_concurrency: int = Field(default=2, ge=1)
    password_hash_max_waiting: int = Field(default=64, ge=0)
    # An API key's last-used time is written at most this often, not on every request.
    api_key_touch_interval_seconds: int = Field(default=60, ge=0)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_allow_credentials: bool = True
    rate_limit_default: str = "300/minute"
    rate_limit_login: str = "10/minute"
    rate_limit_search: str = "60/minute"
    rate_limit_enabled: bool = True
    # Where the budgets live in Redis; deployments sharing one Redis keep theirs apart.
    rate_limit_key_prefix: str = "storefront:ratelimit"
    # Proxies (IPs or CIDR networks) whose X-Forwarded-For is believed; empty = nobody's.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    upload_max_bytes: int = Field(default=10_485_760, gt=0)
    request_max_body_bytes: int = Field(default=1_048_576, gt=0)
    storage_dir: Path = Path("./var/files")
    smtp_host: str = ""
    smtp_port: int = Field(default=25, gt=0, lt=65536)
    smtp_from: str = "noreply@storefront.local"
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    public_base_url: str = "http://127.0.0.1:8000"

    # API v1 item reads: deprecated since, and withdrawn at (Deprecation / Sunset headers).
    api_v1_deprecated_at: AwareDatetime = datetime(2026, 11, 1, tzinfo=UTC)
    api_v1_sunset_at: AwareDatetime = datetime(2027, 6, 30, tzinfo=UTC)

    pubsub_queue_size: int = Field(default=256, gt=0)
    # Live-update sockets: per connection.
    ws_max_message_bytes: int = Field(default=4096, gt=0)
    ws_messages_per_second: float = Field(default=10.0, gt=0)
    ws_message_burst: int = Field(default=20, gt=0)
    ws_outbound_queue: int = Field(default=64, gt=0)
    ws_send_timeout_seconds: float = Field(default=5.0, gt=0)

    job_max_attempts: int = Field(default=5, gt=0)
    job_retry_base_seconds: float = Field(default=2.0, gt=0)
    job_retry_max_seconds: float = Field(default=600.0, gt=0)
    job_timeout_seconds: float = Field(default=300.0, gt=0)
    job_sweep_enabled: bool = True
    job_sweep_interval_seconds: float = Field(default=30.0, gt=0)
    job_redispatch_after_seconds: float = Field(default=120.0, gt=0)
    # Run each job inside the call that sends it, in-process (tests and scripts only).
    jobs_inline: bool = False
    job_stream_maxlen: int = Field(default=100_000, gt=0)
    worker_concurrency: int = Field(default=8, gt=0)
    docs_enabled: bool | None = None
    metrics_enabled: bool = True
    otel_enabled: bool = False
    # The standard variables that choose the exporter (the traces one wins); every other
    # OTEL_* variable is read by the OpenTelemetry SDK itself (core/tracing/provider.py).
    otel_exporter_otlp_protocol: OtlpProtocol = "http/protobuf"
    otel_exporter_otlp_traces_protocol: OtlpProtocol | None = None
    prometheus_multiproc_dir: str = ""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool | None = None

    db_pool_size: int = Field(default=10, gt=0)
    # asyncpg's own pool: reads, and units of work of statements alone (core/db.py).
    # Opened as needed, idle connections closed after five minutes. Fewer connections
    # than requests in flight make requests queue for them: at 64 connections, 10 left
    # an item read's p99 at 140 ms, 32 at 45 ms.
    db_read_pool_size: int = Field(default=32, gt=0)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    redis_timeout_seconds: float = Field(default=2.0, gt=0)
    health_check_timeout_seconds: float = Field(default=2.0, gt=0)

    _cors_origins = field_validator("cors_origins", mode="before")(_comma_separated)
    _trusted_proxies = field_validator("trusted_proxies", mode="before")(_comma_separated)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        try:
            for entry in value:
                ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError("each entry must be an IP address or a CIDR network") from None
        return value

    @field_validator("rate_limit_default", "rate_limit_login", "rate_limit_search")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        if not RATE_PATTERN.match(value):
            raise ValueError("a rate is N/second, N/minute, N/hour or N/day")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must be empty or a redis:// URL")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.environment != "production":
            return self
        problems: list[str] = []
        secret = self.secret_key.get_secret_value()
        if "secret_key" not in self.model_fields_set:
            problems.append("SECRET_KEY must be set explicitly in production")
        elif secret.lower() in WEAK_SECRETS or len(secret) < MIN_PRODUCTION_SECRET_LENGTH:
            problems.append(
                f"SECRET_KEY must be a random value of at least "
                f"{MIN_PRODUCTION_SECRET_LENGTH} characters in production"
            )
        if self.is_sqlite:
            problems.append("DATABASE_URL must point at PostgreSQL in production, not SQLite")
        if not self.redis_url:
            problems.append("REDIS_URL must be set in production (shared state across processes)")
        if "*" in self.cors_origins and self.cors_allow_credentials:
            problems.append("CORS_ORIGINS must not contain '*' while credentials are allowed")
        if problems:
            raise UnsafeConfigurationError(
                "unsafe production configuration: " + "; ".join(problems)
            )
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def otel_traces_protocol(self) -> OtlpProtocol:
        return self.otel_exporter_otlp_traces_protocol or self.otel_exporter_otlp_protocol

    @cached_property
    def serve_docs(self) -> bool:
        if self.docs_enabled is None:
            return not self.is_production
        return self.docs_enabled

    @cached_property
    def json_logs(self) -> bool:
        if self.log_json is None:
            return self.is_production
        return self.log_json


class _LogFormat(BaseSettings):
    """How to report refused settings: text only, so that reading it cannot fail too."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: str = "development"
    log_json: str = ""
    log_level: str = "INFO"


def _problem(error: ErrorDetails) -> str:
    reason = str(error.get("ctx", {}).get("error", error["msg"]))
    if not error["loc"]:
        return reason
    return f"{str(error['loc'][0]).upper()}: {reason}"


def load_settings() -> Settings:
    """Settings from the environment and .env, or a ConfigurationError safe to show."""
    try:
        return Settings()
    except (ValidationError, SettingsError) as error:
        if isinstance(error, ValidationError):
            problems = [_problem(details) for details in error.errors(include_input=False)]
        else:  # names the field and the source, not the value
            problems = [str(error)]
        log_format = _LogFormat()
        json_logs = log_format.log_json.lower() in {"1", "true", "yes", "on"} or (
            not log_format.log_json and log_format.environment == "production"
        )
        debug = log_format.log_level.upper() == "DEBUG"
        raise ConfigurationError(problems, json_logs=json_logs, debug=debug) from None
