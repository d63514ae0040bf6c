"""OpenAPI tells clients (and /docs' Authorize button) how to authenticate."""

from typing import Any

import pytest

from storefront.core.config import Settings
from storefront.main import create_app

SECURED: list[dict[str, list[str]]] = [{"OAuth2Password": []}, {"APIKey": []}]
IDENTITY_OPERATIONS = {
    ("post", "/api/v1/users"): ("create-user", False),
    ("get", "/api/v1/users"): ("list-users", True),
    ("get", "/api/v1/users/me"): ("get-current-user", True),
    ("patch", "/api/v1/users/me"): ("update-current-user", True),
    ("post", "/api/v1/users/me/password"): ("change-password", True),
    ("get", "/api/v1/users/{user_id}"): ("get-user", True),
    ("patch", "/api/v1/users/{user_id}"): ("update-user", True),
    ("post", "/api/v1/auth/token"): ("create-token", False),
    ("post", "/api/v1/auth/refresh"): ("refresh-token", False),
    ("post", "/api/v1/auth/logout"): ("revoke-token", False),
    ("post", "/api/v1/auth/password-reset"): ("request-password-reset", False),
    ("post", "/api/v1/auth/password-reset/confirm"): ("confirm-password-reset", False),
    ("post", "/api/v1/auth/api-keys"): ("create-api-key", True),
    ("get", "/api/v1/auth/api-keys"): ("list-api-keys", True),
    ("delete", "/api/v1/auth/api-keys/{key_id}"): ("delete-api-key", True),
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(Settings(_env_file=None, environment="test")).openapi()


def test_both_security_schemes_are_published(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OAuth2Password"]["type"] == "oauth2"
    assert schemes["OAuth2Password"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert schemes["APIKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A key from POST /api/v1/auth/api-keys.",
    }


@pytest.mark.parametrize(("method", "path"), IDENTITY_OPERATIONS)
def test_identity_operations_say_how_they_are_secured(
    spec: dict[str, Any], method: str, path: str
) -> None:
    operation_id, needs_user = IDENTITY_OPERATIONS[method, path]
    operation = spec["paths"][path][method]
    assert operation["operationId"] == operation_id
    assert "429" in operation["responses"]
    if needs_user:
        assert operation["security"] == SECURED
        assert "401" in operation["responses"]
    else:
        assert "security" not in operation


def test_the_token_endpoint_takes_the_oauth2_form(spec: dict[str, Any]) -> None:
    body = spec["paths"]["/api/v1/auth/token"]["post"]["requestBody"]
    [media_type] = body["content"]
    assert media_type == "application/x-www-form-urlencoded"
    form = spec["components"]["schemas"]["TokenForm"]
    assert set(form["required"]) == {"username", "password"}


def test_no_user_schema_exposes_a_secret(spec: dict[str, Any]) -> None:
    user = spec["components"]["schemas"]["UserRead"]["properties"]
    assert not {"password", "password_hash", "token_version"} & user.keys()
    keys = spec["components"]["schemas"]["ApiKeyRead"]["properties"]
    assert "key" not in keys
    assert "key_hash" not in keys
