"""The OpenAPI document: stable operation ids and the shared problem schemas."""

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase

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


def _security_of(dependant: Dependant) -> tuple[SecurityBase, ...]:
    """The schemes named by a dependency's `openapi_security`: a dependency that checks
    credentials the gate has already read says so, without FastAPI running a security
    dependency per request only for the documentation."""
    for dependency in dependant.dependencies:
        schemes: tuple[SecurityBase, ...] = getattr(dependency.call, "openapi_security", ())
        if schemes or (schemes := _security_of(dependency)):
            return schemes
    return ()


def _add_security(schema: dict[str, Any], routes: list[Any]) -> None:
    definitions = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        schemes = _security_of(route.dependant)
        if not schemes:
            continue
        for scheme in schemes:
            definitions[scheme.scheme_name] = jsonable_encoder(
                scheme.model, by_alias=True, exclude_none=True
            )
        path = schema["paths"][route.path_format]
        for method in route.methods or ():
            path[method.lower()]["security"] = [{scheme.scheme_name: []} for scheme in schemes]
    if not definitions:
        del schema["components"]["securitySchemes"]


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
            _add_security(schema, app.routes)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
