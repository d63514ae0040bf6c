"""The application factory: settings in, a wired FastAPI app out."""

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, TypedDict

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from redis.asyncio import Redis
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute

from storefront import __version__
from storefront.auth.gate import ApiGate
from storefront.auth.router import router as auth_router
from storefront.catalog.dependencies import v1_deprecation
from storefront.catalog.images import router as catalog_images_router
from storefront.catalog.router import router as catalog_router
from storefront.catalog.router_v2 import router as catalog_router_v2
from storefront.core.config import Settings, load_settings
from storefront.core.db import Database
from storefront.core.docs import install_docs
from storefront.core.logging import configure_logging, flush_logs
from storefront.core.memory import return_freed_memory
from storefront.core.metrics import Metrics
from storefront.core.middleware.body_limit import BodyLimits
from storefront.core.middleware.guard import GuardMiddleware
from storefront.core.middleware.observability import ObservabilityMiddleware
from storefront.core.middleware.security_headers import SecurityHeaders
from storefront.core.openapi import install_openapi, operation_id
from storefront.core.problems import install_problem_handlers, problem_responses
from storefront.core.pubsub import Hub, create_hub
from storefront.core.ratelimit import RateLimiter, create_rate_limiter
from storefront.core.redis import create_redis
from storefront.core.tracing import API_SERVICE, create_tracing
from storefront.files.router import router as files_router
from storefront.health.router import metrics_router
from storefront.health.router import router as health_router
from storefront.jobs.runtime import Jobs
from storefront.kit.deprecation import Deprecation
from storefront.kit.routing import add_routes
from storefront.orders.router import router as orders_router
from storefront.realtime.router import router as realtime_router
from storefront.reports.router import router as reports_router
from storefront.users.bootstrap import ensure_first_admin
from storefront.users.router import router as users_router

if TYPE_CHECKING:
    from storefront.core.tracing.provider import Tracing

OPENAPI_URL = "/openapi.json"
JOB_DRAIN_SECONDS = 20.0
TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}

logger = logging.getLogger("storefront")


class AppState(TypedDict):
    settings: Settings
    database: Database
    redis: Redis | None
    metrics: Metrics
    jobs: Jobs
    rate_limiter: RateLimiter
    hub: Hub


def make_lifespan(
    settings: Settings, database: Database | None, metrics: Metrics, tracing: "Tracing | None"
) -> Callable[[FastAPI], AbstractAsyncContextManager[AppState]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[AppState]:
        database_ = database or Database(settings)
        if tracing is not None:
            tracing.start(database_.engine)
        redis = create_redis(settings)
        metrics.track_pool(database_.engine.sync_engine)
        rate_limiter = create_rate_limiter(settings)
        hub = create_hub(settings, redis)
        await hub.start()
        await database_.attach(hub)
        await ensure_first_admin(database_, settings)
        jobs = Jobs(settings, database_)
        # Without Redis the jobs run here, so this process also sweeps for stranded ones.
        await jobs.start(sweep=jobs.runs_in_process)
        logger.info("storefront starting", extra={"environment": settings.environment})
        # Everything allocated so far lives as long as the process: moving it out of the
        # collector's generations keeps full collections short under load.
        gc.collect()
        gc.freeze()
        try:
            yield {
                "settings": settings,
                "database": database_,
                "redis": redis,
                "metrics": metrics,
                "jobs": jobs,
                "rate_limiter": rate_limiter,
                "hub": hub,
            }
        finally:
            await jobs.aclose(drain_timeout=JOB_DRAIN_SECONDS)
            await rate_limiter.aclose()
            await database_.invalidations.detach()
            await hub.aclose()  # before the Redis client it borrows
            if redis is not None:
                await redis.aclose()
            await database_.dispose()
            if tracing is not None:
                await tracing.aclose()  # last: the spans of everything above go out
            logger.info("storefront stopped")
            flush_logs()

    return lifespan


def _deprecations(app: FastAPI, settings: Settings) -> list[tuple[BaseRoute, Deprecation]]:
    # The v1 item reads are the deprecated routes; v2 replaces them.
    deprecation = v1_deprecation(settings)
    return [(route, deprecation) for route in app.routes if getattr(route, "deprecated", False)]


def _add_middleware(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    # add_middleware wraps: the last one added is the outermost.
    body_limits = BodyLimits(
        max_body_bytes=settings.request_max_body_bytes,
        max_upload_bytes=settings.upload_max_bytes,
        routes=app.routes,
    )
    if settings.cors_origins:
        # The gate and the error boundary sit inside CORS, so that their 429s and 500s
        # carry the CORS headers.
        app.add_middleware(ApiGate)
        app.add_middleware(GuardMiddleware, body_limits=body_limits)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-API-Key",
                "X-Request-ID",
                "Idempotency-Key",
            ],
            expose_headers=["X-Request-ID", "X-Process-Time", "Retry-After", "Location"],
        )
    # Outermost: request id, timing, security headers, metrics and the access log cover
    # everything inside, CORS preflights and the error boundary's 500s included. Without
    # CORS it is the error boundary itself.
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics if settings.metrics_enabled else None,
        security_headers=SecurityHeaders(hsts=settings.is_production),
        unmetered_routes=frozenset({"/metrics"}),
        guard=None if settings.cors_origins else body_limits,
        deprecations=_deprecations(app, settings),
        api_gate=None if settings.cors_origins else ApiGate,
    )


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """Build the app; `database` lets a caller (the tests) supply its own engine binding."""
    settings = settings or Settings()
    return_freed_memory()
    configure_logging(settings)
    metrics = Metrics(multiprocess_dir=settings.prometheus_multiproc_dir)
    tracing = create_tracing(settings, service_name=API_SERVICE)
    app = FastAPI(
        title="Storefront",
        version=__version__,
        description="A small commerce API: users, catalog, orders, reports, files, live updates.",
        lifespan=make_lifespan(settings, database, metrics, tracing),
        openapi_url=OPENAPI_URL if settings.serve_docs else None,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
        responses=problem_responses(500),
        telemetry=tracing.fastapi_telemetry if tracing is not None else TELEMETRY_OFF,
    )
    install_problem_handlers(app)
    install_openapi(app)
    add_routes(app, health_router)
    add_routes(app, users_router)
    add_routes(app, auth_router)
    add_routes(app, catalog_router)
    add_routes(app, catalog_router_v2)
    add_routes(app, catalog_images_router)
    add_routes(app, orders_router)
    add_routes(app, files_router)
    add_routes(app, realtime_router)
    add_routes(app, reports_router)
    if settings.metrics_enabled:
        add_routes(app, metrics_router)
    if settings.serve_docs:
        install_docs(app, openapi_url=OPENAPI_URL)
    _add_middleware(app, settings, metrics)
    return app


def create_app_from_environment() -> FastAPI:
    """Entry point for `uvicorn --factory` and the worker processes of `storefront serve`."""
    return create_app(load_settings())
