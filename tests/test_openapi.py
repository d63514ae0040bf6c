"""The OpenAPI contract: a committed snapshot, stable ids, documented errors."""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from storefront.cli import app as cli
from storefront.core.config import Settings
from storefront.kit.openapi_diff import breaking_changes
from storefront.main import create_app

SNAPSHOT = Path(__file__).resolve().parents[1] / "openapi.json"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(Settings(_env_file=None, environment="test")).openapi()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_snapshot_is_current(spec: dict[str, Any]) -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    assert breaking_changes(snapshot, spec) == [], "breaking change against openapi.json"
    assert snapshot == spec, "openapi.json is stale: run `make openapi` and commit it"


def test_operation_ids_are_unique_and_kebab_case(spec: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(spec)]
    assert len(ids) == len(set(ids))
    assert all(op_id == op_id.lower() and "_" not in op_id for op_id in ids)


def test_every_operation_has_a_tag_a_success_schema_and_documented_errors(
    spec: dict[str, Any],
) -> None:
    for method, path, operation in operations(spec):
        label = f"{method} {path}"
        assert operation.get("tags"), label
        responses = operation["responses"]
        success = [status for status in responses if status.startswith("2")]
        assert success, label
        for status in success:
            content = responses[status].get("content")
            if status != "204":
                assert content and all("schema" in media for media in content.values()), label
        assert "500" in responses, label
        for status, response in responses.items():
            if status.startswith(("4", "5")) and "application/json" not in response["content"]:
                assert "application/problem+json" in response["content"], f"{label} {status}"


def test_problem_schemas_are_published(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert {"Problem", "ValidationProblem", "FieldError"} <= schemas.keys()
    assert set(schemas["Problem"]["required"]) >= {"type", "title", "status", "code"}


def test_cli_prints_the_spec() -> None:
    result = CliRunner().invoke(cli, ["openapi"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["info"]["title"] == "Storefront"


def test_cli_refuses_a_breaking_snapshot_update(tmp_path: Path, spec: dict[str, Any]) -> None:
    snapshot = tmp_path / "openapi.json"
    richer = json.loads(json.dumps(spec))
    richer["paths"]["/gone"] = {"get": {"operationId": "gone", "responses": {"200": {}}}}
    snapshot.write_text(json.dumps(richer))
    refused = CliRunner().invoke(cli, ["openapi", "--output", str(snapshot), "--check-breaking"])
    assert refused.exit_code == 1
    assert "GET /gone: operation removed" in refused.stderr
    assert json.loads(snapshot.read_text()) == richer
    forced = CliRunner().invoke(
        cli, ["openapi", "--output", str(snapshot), "--check-breaking", "--allow-breaking"]
    )
    assert forced.exit_code == 0
    assert json.loads(snapshot.read_text()) == spec
