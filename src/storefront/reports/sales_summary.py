"""Running totals of a sales report, kept while its orders stream past: per currency, and
per UTC day and currency. Both are bounded by the period, not by the number of orders.

Cancelled orders are listed but counted apart: they are not sales."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from storefront.orders.models import OrderStatus
from storefront.orders.schemas import Sale


@dataclass(slots=True)
class Tally:
    orders: int = 0
    cancelled: int = 0
    units: int = 0
    revenue_minor: int = 0

    def add(self, sale: Sale) -> None:
        if sale.status == OrderStatus.CANCELLED:
            self.cancelled += 1
            return
        self.orders += 1
        self.units += sale.units
        self.revenue_minor += sale.total_minor


@dataclass(slots=True)
class SalesSummary:
    row_count: int = 0
    by_currency: dict[str, Tally] = field(default_factory=dict)
    by_day: dict[tuple[date, str], Tally] = field(default_factory=dict)

    def add(self, sales: Iterable[Sale]) -> None:
        for sale in sales:
            self.row_count += 1
            self.by_currency.setdefault(sale.currency, Tally()).add(sale)
            day = sale.created_at.date()
            self.by_day.setdefault((day, sale.currency), Tally()).add(sale)

    def currencies(self) -> list[tuple[str, Tally]]:
        return sorted(self.by_currency.items())

    def days(self) -> list[tuple[date, str, Tally]]:
        return [(day, currency, tally) for (day, currency), tally in sorted(self.by_day.items())]
