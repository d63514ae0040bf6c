import pytest
from pydantic import ValidationError

from storefront.core.config import Settings

SAFE_PRODUCTION = {
    "environment": "production",
    "secret_key": "k" * 48,
    "database_url": "postgresql+asyncpg://storefront@db/storefront",
    "redis_url": "redis://redis:6379/0",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def production(**overrides: object) -> Settings:
    return Settings(_env_file=None, **{**SAFE_PRODUCTION, **overrides})  # type: ignore[arg-type]


def test_development_defaults_follow_the_spec() -> None:
    settings = Settings(_env_file=None)
    assert settings.environment == "development"
    assert settings.database_url == "sqlite+aiosqlite:///./var/storefront.db"
    assert settings.redis_url == ""
    assert settings.access_token_ttl_seconds == 900
    assert settings.refresh_token_ttl_seconds == 2_592_000
    assert settings.rate_limit_default == "300/minute"
    assert settings.upload_max_bytes == 10_485_760
    assert settings.serve_docs is True
    assert settings.metrics_enabled is True
    assert len(settings.secret_key.get_secret_value()) >= 32


def test_generated_secret_differs_per_run() -> None:
    first = Settings(_env_file=None).secret_key.get_secret_value()
    assert first != Settings(_env_file=None).secret_key.get_secret_value()


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("RATE_LIMIT_SEARCH", "5/second")
    monkeypatch.setenv("DOCS_ENABLED", "false")
    settings = Settings(_env_file=None)
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.rate_limit_search == "5/second"
    assert settings.serve_docs is False


def test_a_safe_production_configuration_is_accepted() -> None:
    settings = production()
    assert settings.serve_docs is False
    assert settings.json_logs is True


def test_production_docs_only_when_asked() -> None:
    assert production(docs_enabled=True).serve_docs is True


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"secret_key": None}, "SECRET_KEY"),
        ({"secret_key": "changeme"}, "SECRET_KEY"),
        ({"secret_key": "short"}, "SECRET_KEY"),
        ({"database_url": "sqlite+aiosqlite:///./var/storefront.db"}, "DATABASE_URL"),
        ({"redis_url": ""}, "REDIS_URL"),
        ({"cors_origins": "*"}, "CORS_ORIGINS"),
    ],
)
def test_production_refuses_unsafe_values(overrides: dict[str, object], named: str) -> None:
    values = {**SAFE_PRODUCTION, **overrides}
    if values["secret_key"] is None:
        del values["secret_key"]
    with pytest.raises(ValidationError, match=named):
        Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", ["10", "10/minutes", "ten/minute", "10/min", "/second"])
def test_malformed_rates_are_refused(rate: str) -> None:
    with pytest.raises(ValidationError, match="rate"):
        Settings(_env_file=None, rate_limit_default=rate)


def test_redis_url_must_be_a_redis_url() -> None:
    with pytest.raises(ValidationError, match="REDIS_URL"):
        Settings(_env_file=None, redis_url="http://localhost:6379")
