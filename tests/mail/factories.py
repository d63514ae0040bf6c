from typing import Any

from pydantic import JsonValue

from storefront.core.config import Settings
from storefront.mail.schemas import MailTemplate

PUBLIC_BASE_URL = "https://shop.example"

CONTEXTS: dict[MailTemplate, dict[str, JsonValue]] = {
    "welcome": {"full_name": "Ada Lovelace"},
    "password_reset": {"token": "reset-token-123"},
    "report_ready": {"report_id": 42, "kind": "sales"},
}


def mail_settings(**overrides: Any) -> Settings:
    """Settings with every SMTP field explicit, so the developer's environment cannot leak in."""
    values: dict[str, Any] = {
        "environment": "test",
        "smtp_host": "",
        "smtp_port": 25,
        "smtp_from": "Storefront <noreply@shop.example>",
        "smtp_username": "",
        "smtp_password": None,
        "smtp_starttls": False,
        "smtp_timeout_seconds": 5.0,
        "public_base_url": PUBLIC_BASE_URL + "/",
    }
    return Settings(_env_file=None, **{**values, **overrides})
