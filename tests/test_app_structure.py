"""Properties of the whole app that no single endpoint test would catch."""

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute

from storefront.core.config import Settings
from storefront.main import create_app


def calls(dependant: Dependant) -> Iterator[Any]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from calls(sub)


def is_async(call: Any) -> bool:
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else call.__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def test_no_endpoint_or_dependency_runs_in_the_thread_pool() -> None:
    """A sync def would run in the thread pool, where a pooled connection held by a
    waiting thread can starve the event loop's requests (the classic 0 req/s collapse)."""
    app = create_app(Settings(_env_file=None, environment="test"))
    routes = [r for r in app.routes if isinstance(r, APIRoute | APIWebSocketRoute)]
    assert {"/health/live", "/health/ready", "/metrics"} <= {route.path for route in routes}
    offenders = [
        f"{route.path}: {getattr(call, '__qualname__', call)}"
        for route in routes
        for call in calls(route.dependant)
        if not is_async(call)
    ]
    assert offenders == []


def test_routes_form_one_flat_table() -> None:
    """Included routers are walked per request; see storefront.kit.routing."""
    app = create_app(Settings(_env_file=None, environment="test"))
    assert all(isinstance(route, BaseRoute) and hasattr(route, "path") for route in app.routes)


def test_no_base_http_middleware() -> None:
    from starlette.middleware.base import BaseHTTPMiddleware

    app = create_app(Settings(_env_file=None, environment="test"))
    assert all(not issubclass(m.cls, BaseHTTPMiddleware) for m in app.user_middleware)  # type: ignore[arg-type]
