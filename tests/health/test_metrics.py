import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.metrics import Metrics
from storefront.jobs.models import Job, JobStatus
from storefront.kit.models import utc_now

pytestmark = pytest.mark.anyio


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_requests_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/health/live")
    await client.get("/health/live")
    await client.get("/some/unknown/path/4711")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    live = frozenset({("handler", "/health/live"), ("method", "GET"), ("status", "200")})
    assert found[("http_requests_total", live)] == 2
    # Unknown paths are grouped, so a scanner cannot blow up the label cardinality.
    grouped = frozenset({("handler", "none"), ("method", "GET"), ("status", "404")})
    assert found[("http_requests_total", grouped)] == 1
    assert not any("4711" in str(labels) for _, labels in found)
    names = {name for name, _ in found}
    assert "http_request_duration_seconds_bucket" in names
    assert "http_requests_inprogress" in names
    assert "storefront_db_pool_checked_out" in names
    assert "storefront_db_pool_size" in names


async def test_metrics_are_not_counting_the_scrape(client: httpx.AsyncClient) -> None:
    await client.get("/metrics")
    response = await client.get("/metrics")
    assert 'handler="/metrics"' not in response.text


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    nested = APIRouter()

    @nested.get("/things/{thing_id}")
    async def read_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.include_router(nested, prefix="/nested")
    return app


async def test_route_label_is_the_full_template_under_an_included_prefix(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/nested/things/7")).status_code == 200
    found = samples((await client.get("/metrics")).text)
    labels = frozenset(
        {("handler", "/nested/things/{thing_id}"), ("method", "GET"), ("status", "200")}
    )
    assert found[("http_requests_total", labels)] == 1


async def test_metrics_show_job_counts_by_state(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    def jobs(text: str, state: str) -> float:
        return samples(text)[("storefront_jobs", frozenset({("state", state)}))]

    # Other tests may have committed jobs: compare with the counts before.
    before = (await client.get("/metrics")).text
    now = utc_now()
    for status in (JobStatus.QUEUED, JobStatus.FAILED, JobStatus.FAILED):
        session.add(Job(name="mail.send", payload={}, status=status, max_attempts=1, run_after=now))
    await session.commit()

    after = (await client.get("/metrics")).text

    assert jobs(after, "queued") - jobs(before, "queued") == 1
    assert jobs(after, "failed") - jobs(before, "failed") == 2
    for state in ("running", "succeeded"):
        assert jobs(after, state) == jobs(before, state)


def test_tallied_requests_render_as_if_each_was_observed() -> None:
    """The single-process tallies reach the registry exactly as prometheus_client's own
    observe() would have put them there (they use its internals: an upgrade must fail)."""
    durations = [0.0, 0.004, 0.005, 0.0051, 0.3, 2.5, 7.0, 10.0, 11.0, 99.0]
    tallied = Metrics()
    for seconds in durations:
        tallied.request_started()
        tallied.observe("GET", "/things", 200, seconds)
    tallied.request_started()  # one still running
    tallied.request_ended()
    tallied.observe("GET", "/things", 200, 0.02)

    direct = Metrics()
    counter = direct.requests_total.labels("GET", "/things", "200")
    histogram = direct.request_duration.labels("GET", "/things")
    for seconds in [*durations, 0.02]:
        counter.inc()
        histogram.observe(seconds)

    def http_samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {
            key: value
            for key, value in samples(metrics.render().decode()).items()
            if key[0].startswith("http_") and not key[0].endswith("_created")
        }

    rendered = http_samples(tallied)
    assert rendered.pop(("http_requests_inprogress", frozenset())) == len(durations)
    expected = http_samples(direct)
    expected.pop(("http_requests_inprogress", frozenset()))
    assert rendered == expected
    # Rendering again adds nothing twice.
    assert http_samples(tallied) == {**rendered, ("http_requests_inprogress", frozenset()): 10}


async def test_docs_assets_and_refused_bodies_are_labelled_with_their_handler(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/static/docs/favicon-32x32.png")).status_code == 200
    too_large = b"{" + b" " * 2_000_000 + b"}"
    refused = await client.post(
        "/api/v1/users", content=too_large, headers={"content-type": "application/json"}
    )
    assert refused.status_code == 413
    found = samples((await client.get("/metrics")).text)
    asset = frozenset({("handler", "/static/docs"), ("method", "GET"), ("status", "200")})
    body = frozenset({("handler", "/api/v1/users"), ("method", "POST"), ("status", "413")})
    assert found[("http_requests_total", asset)] == 1
    assert found[("http_requests_total", body)] == 1
    assert not any(("handler", "none") in labels for _, labels in found)
