"""A sales report as PDF (fpdf2): a table of sales per day with totals per currency, then
the orders themselves, at most `DETAIL_ROWS` of them.

fpdf2 builds the whole document in memory before writing it, so a PDF with every one of
100,000 orders (some 2,500 pages) would grow with the report. The daily table is bounded
by the period instead, and the order list is capped and says so: the CSV format has every
order. Rendering is CPU work and runs in a thread."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import anyio
from fpdf import FPDF
from fpdf.fonts import FontFace

from storefront.kit.money import to_text
from storefront.orders.schemas import Sale
from storefront.reports.sales_summary import SalesSummary

DETAIL_ROWS = 1000
BOLD = FontFace(emphasis="BOLD")
HEADINGS = FontFace(emphasis="BOLD", fill_color=(230, 230, 230))
NUMBERS = ("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")


@dataclass(frozen=True, slots=True)
class Heading:
    title: str
    period: str
    generated_at: datetime


class _Document(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 8, f"Page {self.page_no()} of {{nb}}", align="C")


class PdfReportWriter:
    def __init__(self, path: Path, heading: Heading) -> None:
        self.path = path
        self.heading = heading
        self.details: list[Sale] = []
        self.more = 0

    async def add(self, sales: Sequence[Sale]) -> None:
        room = DETAIL_ROWS - len(self.details)
        self.details.extend(sales[:room])
        self.more += max(0, len(sales) - room)

    async def finish(self, summary: SalesSummary) -> None:
        await anyio.to_thread.run_sync(self._render, summary)

    async def aclose(self) -> None:
        self.details = []

    def _render(self, summary: SalesSummary) -> None:
        pdf = _Document(format="A4")
        pdf.set_title(self.heading.title)
        pdf.set_creator("Storefront")
        pdf.set_creation_date(self.heading.generated_at)
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, self.heading.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        generated = self.heading.generated_at.strftime("%Y-%m-%d %H:%M UTC")
        lines = (f"Period: {self.heading.period}", f"Generated: {generated}")
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 6, "Totals exclude cancelled orders.", new_x="LMARGIN", new_y="NEXT")
        self._daily_table(pdf, summary)
        self._order_table(pdf, summary)
        pdf.output(str(self.path))

    def _section(self, pdf: FPDF, title: str) -> None:
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)

    def _daily_table(self, pdf: FPDF, summary: SalesSummary) -> None:
        self._section(pdf, "Sales per day")
        with pdf.table(
            col_widths=(30, 20, 25, 25, 25, 35), text_align=NUMBERS, headings_style=HEADINGS
        ) as table:
            table.row(("Day (UTC)", "Currency", "Orders", "Cancelled", "Units", "Revenue"))
            for day, currency, tally in summary.days():
                table.row(
                    (
                        day.isoformat(),
                        currency,
                        str(tally.orders),
                        str(tally.cancelled),
                        str(tally.units),
                        to_text(tally.revenue_minor),
                    )
                )
            for currency, tally in summary.currencies():
                total = (
                    "Total",
                    currency,
                    str(tally.orders),
                    str(tally.cancelled),
                    str(tally.units),
                    to_text(tally.revenue_minor),
                )
                table.row(total, style=BOLD)
            if not summary.by_currency:
                table.row(("Total", "", "0", "0", "0", to_text(0)), style=BOLD)

    def _order_table(self, pdf: FPDF, summary: SalesSummary) -> None:
        self._section(pdf, "Orders")
        if self.more:
            pdf.multi_cell(
                0,
                5,
                f"The first {len(self.details):,} of {summary.row_count:,} orders; "
                "the CSV format of this report lists every order.",
                new_x="LMARGIN",
                new_y="NEXT",
            )
        with pdf.table(
            col_widths=(20, 42, 24, 24, 20, 16, 30),
            text_align=("RIGHT", "LEFT", "LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT"),
            headings_style=HEADINGS,
        ) as table:
            table.row(
                ("Order", "Created (UTC)", "Status", "Customer", "Currency", "Units", "Total")
            )
            for sale in self.details:
                table.row(
                    (
                        str(sale.order_id),
                        sale.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                        sale.status.value,
                        str(sale.customer_id),
                        sale.currency,
                        str(sale.units),
                        to_text(sale.total_minor),
                    )
                )
