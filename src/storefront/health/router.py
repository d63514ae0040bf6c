from fastapi import Request, Response
from starlette.responses import PlainTextResponse

from storefront.core.metrics import CONTENT_TYPE, Metrics
from storefront.core.storage import create_storage
from storefront.health import service
from storefront.health.schemas import Liveness, Readiness
from storefront.kit.responses import JSONBody
from storefront.kit.routing import domain_router

router = domain_router(tags=["health"])
metrics_router = domain_router(tags=["health"])

READINESS_RESPONSES: dict[int | str, dict[str, object]] = {
    503: {
        "model": Readiness,
        "description": "A dependency is failing, or storage is (nearly) full.",
    }
}


# Probed every few seconds by every orchestrator: the one body it ever has, encoded once.
_LIVE = Liveness().model_dump_json().encode()


@router.get("/health/live", response_model=Liveness)
async def health_live() -> JSONBody:
    return JSONBody(_LIVE)


async def _readiness(request: Request, response: Response) -> Readiness:
    state = request.state
    settings = state.settings
    readiness = await service.check_readiness(
        state.database.engine,
        state.redis,
        create_storage(settings),
        min_free_bytes=settings.upload_max_bytes,
        timeout=settings.health_check_timeout_seconds,
    )
    if readiness.status != "healthy":
        response.status_code = 503
    response.headers["Cache-Control"] = "no-store"
    return readiness


@router.get("/health/ready", response_model=Readiness, responses=READINESS_RESPONSES)
async def health_ready(request: Request, response: Response) -> Readiness:
    return await _readiness(request, response)


@router.get("/health", response_model=Readiness, responses=READINESS_RESPONSES)
async def health_check(request: Request, response: Response) -> Readiness:
    return await _readiness(request, response)


@metrics_router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics_export(request: Request) -> PlainTextResponse:
    app_metrics: Metrics = request.state.metrics
    counts = await service.count_jobs(
        request.state.database, timeout=request.state.settings.health_check_timeout_seconds
    )
    if counts is not None:
        app_metrics.set_job_counts(counts)
    return PlainTextResponse(app_metrics.render(), media_type=CONTENT_TYPE)
