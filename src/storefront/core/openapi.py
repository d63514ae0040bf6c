"""The OpenAPI document: stable operation ids and the shared problem schemas."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from storefront.core.problems import Problem, ValidationProblem


def operation_id(route: APIRoute) -> str:
    """`health_ready` → `health-ready`: stable as long as the endpoint keeps its name."""
    return route.name.replace("_", "-")


def _problem_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (Problem, ValidationProblem):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(_problem_schemas())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
