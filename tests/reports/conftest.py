import pytest

from storefront.core.config import Settings
from tests.fixtures.jobs import job_database, job_settings, jobs
from tests.fixtures.smtp import SmtpServer, smtp_server

__all__ = ["job_database", "job_settings", "jobs", "smtp_server"]


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    """Mail goes to a real SMTP server, so the report-ready mail can be read back."""
    return settings.model_copy(
        update={
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_timeout_seconds": 5.0,
            "public_base_url": "https://shop.example",
            "rate_limit_default": "100000/minute",
        }
    )
