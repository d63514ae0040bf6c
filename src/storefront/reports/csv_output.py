"""A sales report as CSV: one row per order as it streams in, then a TOTAL row per
currency. The file is written batch by batch from a thread, so neither the rows nor the
file ever sit in memory whole, and the event loop never waits on the disk."""

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import anyio

from storefront.kit.money import to_text
from storefront.orders.schemas import Sale
from storefront.reports.sales_summary import SalesSummary

HEADER = ("order_id", "created_at", "status", "customer_id", "currency", "units", "total")
TOTAL_LABEL = "TOTAL"
# What the TOTAL rows add up, said where a spreadsheet reader sees it.
TOTAL_SCOPE = "excluding cancelled"


def sale_row(sale: Sale) -> tuple[object, ...]:
    return (
        sale.order_id,
        sale.created_at.isoformat(),
        sale.status.value,
        sale.customer_id,
        sale.currency,
        sale.units,
        to_text(sale.total_minor),
    )


class CsvReportWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    def _open(self) -> None:
        self._file = self.path.open("w", newline="", encoding="utf-8")
        csv.writer(self._file).writerow(HEADER)

    def _write(self, rows: Sequence[tuple[object, ...]]) -> None:
        if self._file is None:
            self._open()
        assert self._file is not None
        csv.writer(self._file).writerows(rows)

    async def add(self, sales: Sequence[Sale]) -> None:
        await anyio.to_thread.run_sync(self._write, [sale_row(sale) for sale in sales])

    async def finish(self, summary: SalesSummary) -> None:
        totals = [
            (TOTAL_LABEL, "", TOTAL_SCOPE, "", currency, tally.units, to_text(tally.revenue_minor))
            for currency, tally in summary.currencies()
        ] or [(TOTAL_LABEL, "", TOTAL_SCOPE, "", "", 0, to_text(0))]
        await anyio.to_thread.run_sync(self._write, totals)
        await self.aclose()

    async def aclose(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            await anyio.to_thread.run_sync(file.close)
