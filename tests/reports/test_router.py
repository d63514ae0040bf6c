"""Reports through the API: queued by an admin, built by the job (inline in the tests),
read back, downloaded as CSV or PDF, and mailed about."""

import csv
import io
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.config import Settings
from storefront.jobs.models import Job, JobStatus
from storefront.orders.models import Order
from storefront.reports.models import Report, ReportFormat, ReportKind, ReportStatus
from tests.catalog.test_items import create as create_item
from tests.fixtures.identity import user_headers
from tests.fixtures.smtp import SmtpServer
from tests.reports.pdf_text import shown_text

pytestmark = pytest.mark.anyio

DAY_ONE = date(2001, 2, 3)
DAY_TWO = date(2001, 2, 4)
OUTSIDE = date(2001, 3, 1)
PERIOD = {"date_from": DAY_ONE.isoformat(), "date_to": DAY_TWO.isoformat()}


@pytest.fixture
async def admin(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    _, headers = await user_headers(client, session, admin=True)
    return headers


@pytest.fixture
async def sales(
    client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str]
) -> dict[str, Any]:
    """Orders through the API, then moved to fixed days: two on day one (one of them
    cancelled), one on day two, one outside the period."""
    customer_id, shopper = await user_headers(client, session)
    mug = await create_item(client, admin, price="12.50", stock=100)
    pen = await create_item(client, admin, price="0.99", stock=100)
    placed = []
    for lines in ([(mug, 2), (pen, 3)], [(mug, 1)], [(pen, 4)], [(mug, 10)]):
        body = {"lines": [{"item_id": item["id"], "quantity": n} for item, n in lines]}
        response = await client.post("/api/v1/orders", json=body, headers=shopper)
        assert response.status_code == 201, response.text
        placed.append(response.json()["id"])
    cancelled = await client.post(f"/api/v1/orders/{placed[1]}/cancel", headers=shopper)
    assert cancelled.status_code == 200, cancelled.text
    days = [(DAY_ONE, 9), (DAY_ONE, 10), (DAY_TWO, 23), (OUTSIDE, 12)]
    for order_id, (day, hour) in zip(placed, days, strict=True):
        created_at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        await session.execute(
            update(Order).where(Order.id == order_id).values(created_at=created_at)
        )
    await session.commit()
    return {"ids": placed, "customer_id": customer_id}


async def request_report(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post("/api/v1/reports", json={"kind": "sales", **body}, headers=headers)


async def test_a_csv_report_lists_the_period_s_orders_and_their_totals(
    client: httpx.AsyncClient, admin: dict[str, str], sales: dict[str, Any]
) -> None:
    response = await request_report(client, admin, format="csv", **PERIOD)

    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "queued"
    assert queued["download_url"] is None
    assert response.headers["location"] == f"/api/v1/reports/{queued['id']}"
    report = (await client.get(response.headers["location"], headers=admin)).json()
    assert report["status"] == "succeeded", report
    assert report["attempts"] == 1
    assert report["error"] is None
    assert report["row_count"] == 3
    assert report["download_url"] == f"/api/v1/reports/{queued['id']}/download"

    download = await client.get(report["download_url"], headers=admin)

    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    today = datetime.now(UTC).date().isoformat()
    assert download.headers["content-disposition"] == f'attachment; filename="sales-{today}.csv"'
    assert download.headers["cache-control"] == "private, no-store"
    assert int(download.headers["content-length"]) == report["size"]
    first, cancelled, third, _ = sales["ids"]
    customer = str(sales["customer_id"])
    assert list(csv.reader(io.StringIO(download.text))) == [
        ["order_id", "created_at", "status", "customer_id", "currency", "units", "total"],
        [str(first), "2001-02-03T09:00:00+00:00", "pending", customer, "EUR", "5", "27.97"],
        [str(cancelled), "2001-02-03T10:00:00+00:00", "cancelled", customer, "EUR", "1", "12.50"],
        [str(third), "2001-02-04T23:00:00+00:00", "pending", customer, "EUR", "4", "3.96"],
        ["TOTAL", "", "excluding cancelled", "", "EUR", "9", "31.93"],
    ]


async def test_a_pdf_report_is_a_table_of_daily_sales_with_totals(
    client: httpx.AsyncClient, admin: dict[str, str], sales: dict[str, Any]
) -> None:
    response = await request_report(client, admin, format="pdf", **PERIOD)
    report = (await client.get(response.headers["location"], headers=admin)).json()
    assert report["status"] == "succeeded", report

    download = await client.get(report["download_url"], headers=admin)

    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].endswith('.pdf"')
    assert download.content.startswith(b"%PDF-")
    text = shown_text(download.content)
    for expected in ("Sales report", "Period: 2001-02-03 to 2001-02-04 (UTC)", "Sales per day"):
        assert expected in text
    # Day one: one sale (the other order was cancelled), 5 units, 27.97; day two: 3.96.
    daily = text[text.index("Revenue") + 1 :]
    assert daily[:6] == ["2001-02-03", "EUR", "1", "1", "5", "27.97"]
    assert daily[6:12] == ["2001-02-04", "EUR", "1", "0", "4", "3.96"]
    assert daily[12:18] == ["Total", "EUR", "2", "1", "9", "31.93"]
    orders = text[text.index("Order") :]
    first, cancelled, third, _ = sales["ids"]
    customer = str(sales["customer_id"])
    assert orders[7:28] == [
        *(str(first), "2001-02-03 09:00:00", "pending", customer, "EUR", "5", "27.97"),
        *(str(cancelled), "2001-02-03 10:00:00", "cancelled", customer, "EUR", "1", "12.50"),
        *(str(third), "2001-02-04 23:00:00", "pending", customer, "EUR", "4", "3.96"),
    ]
    assert orders[28].startswith("Page 1 of")


async def test_the_admin_is_mailed_a_link_when_the_report_is_ready(
    client: httpx.AsyncClient,
    session: AsyncSession,
    smtp_server: SmtpServer,
) -> None:
    admin_id, headers = await user_headers(client, session, admin=True)
    me = (await client.get("/api/v1/users/me", headers=headers)).json()

    response = await request_report(client, headers, format="csv")

    report_id = response.json()["id"]
    [mail] = [
        m
        for m in smtp_server.received
        if m.rcpt_tos == [me["email"]] and "report" in str(m.message["Subject"])
    ]
    body = mail.message.get_body(("plain",))
    assert body is not None
    assert f"https://shop.example/api/v1/reports/{report_id}/download" in body.get_content()
    assert me["id"] == admin_id


async def test_reports_are_for_admins_only(
    client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str]
) -> None:
    report_id = (await request_report(client, admin, format="csv")).json()["id"]
    _, user = await user_headers(client, session)
    calls = [
        ("POST", "/api/v1/reports", {"kind": "sales", "format": "csv"}),
        ("GET", "/api/v1/reports", None),
        ("GET", f"/api/v1/reports/{report_id}", None),
        ("GET", f"/api/v1/reports/{report_id}/download", None),
    ]
    for method, url, body in calls:
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, url)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        forbidden = await client.request(method, url, json=body, headers=user)
        assert forbidden.status_code == 403, (method, url)
        assert forbidden.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "sales", "format": "csv", "date_from": "2026-02-02", "date_to": "2026-02-01"},
        {"kind": "refunds", "format": "csv"},
        {"kind": "sales", "format": "xlsx"},
        {"kind": "sales"},
        {"kind": "sales", "format": "csv", "date_from": "yesterday"},
        {"kind": "sales", "format": "csv", "filename": "../../etc/passwd"},
    ],
)
async def test_a_bad_request_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, str]
) -> None:
    response = await client.post("/api/v1/reports", json=body, headers=admin)

    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_an_unknown_report_is_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for suffix in ("", "/download"):
        response = await client.get(f"/api/v1/reports/{uuid.uuid4()}{suffix}", headers=admin)
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"
    assert (await client.get("/api/v1/reports/not-a-uuid", headers=admin)).status_code == 422


async def add_report(session: AsyncSession, client: httpx.AsyncClient, **values: Any) -> Report:
    requester_id, _ = await user_headers(client, session, admin=True)
    report = Report(
        kind=ReportKind.SALES,
        format=ReportFormat.CSV,
        requested_by_id=requester_id,
        **values,
    )
    session.add(report)
    await session.commit()
    return report


async def test_the_download_is_a_409_until_the_report_has_succeeded(
    client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str]
) -> None:
    for status in (ReportStatus.QUEUED, ReportStatus.RUNNING, ReportStatus.FAILED):
        report = await add_report(session, client, status=status, attempts=1)

        read = (await client.get(f"/api/v1/reports/{report.id}", headers=admin)).json()
        download = await client.get(f"/api/v1/reports/{report.id}/download", headers=admin)

        assert read["status"] == status
        assert read["download_url"] is None
        assert download.status_code == 409
        assert download.json()["code"] == "REPORT_NOT_READY"


async def test_a_report_whose_job_gave_up_reads_as_failed(
    client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str]
) -> None:
    """Workers killed on every attempt, or a timeout: the handler never got to say so."""
    job = Job(
        name="reports.build",
        payload={},
        status=JobStatus.FAILED,
        attempts=5,
        max_attempts=5,
        error="TimeoutError: select … from order",
    )
    session.add(job)
    await session.flush()
    report = await add_report(
        session, client, status=ReportStatus.RUNNING, attempts=5, job_id=job.id
    )

    read = (await client.get(f"/api/v1/reports/{report.id}", headers=admin)).json()

    assert read["status"] == "failed"
    assert read["attempts"] == 5
    assert read["error"] == "The report could not be built (TimeoutError)."
    listed = (await client.get("/api/v1/reports", headers=admin)).json()
    assert {"id": str(report.id), "status": "failed"}.items() <= next(
        item for item in listed["items"] if item["id"] == str(report.id)
    ).items()


async def test_a_report_whose_file_is_gone_is_a_404(
    client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str], settings: Settings
) -> None:
    report = await add_report(
        session,
        client,
        status=ReportStatus.SUCCEEDED,
        storage_key="ab/" + "0" * 32,
        size=1,
        attempts=1,
    )

    response = await client.get(f"/api/v1/reports/{report.id}/download", headers=admin)

    assert response.status_code == 404
    assert response.json()["code"] == "REPORT_FILE_MISSING"


async def test_reports_are_listed_newest_first(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = [(await request_report(client, admin, format=f)).json()["id"] for f in ("csv", "pdf")]

    page = (await client.get("/api/v1/reports?per_page=100", headers=admin)).json()

    listed = [item["id"] for item in page["items"]]
    assert listed.index(ids[1]) < listed.index(ids[0])
    assert page["total"] >= 2
    assert {item["status"] for item in page["items"] if item["id"] in ids} == {"succeeded"}
