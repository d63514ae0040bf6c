from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, Field

from storefront.kit.money import to_number
from storefront.kit.schemas import InputModel
from storefront.orders.models import Order, OrderStatus

MAX_LINES = 100


class OrderLineCreate(InputModel):
    item_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class OrderCreate(InputModel):
    lines: Annotated[list[OrderLineCreate], Field(min_length=1, max_length=MAX_LINES)]

    def quantities(self) -> dict[int, int]:
        """Units per item; two lines of one item count as one line of their sum."""
        merged: dict[int, int] = {}
        for line in self.lines:
            merged[line.item_id] = merged.get(line.item_id, 0) + line.quantity
        return merged


class OrderStatusUpdate(InputModel):
    status: OrderStatus


class OrderLineRead(BaseModel):
    item_id: int
    quantity: int
    unit_price: float = Field(description="Two decimal places at most.", examples=[12.5])


class OrderRead(BaseModel):
    id: int
    status: OrderStatus
    lines: list[OrderLineRead]
    total: float = Field(description="Two decimal places at most.", examples=[25.0])
    currency: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def fields(
        *,
        order_id: int,
        status: OrderStatus,
        lines: Sequence[Mapping[str, Any]],
        total_minor: int,
        currency: str,
        created_at: datetime,
        updated_at: datetime,
    ) -> dict[str, Any]:
        """The JSON object of an order, exactly as this schema describes it; `lines`
        have `item_id`, `quantity` and `unit_price_minor`."""
        return {
            "id": order_id,
            "status": status.value,
            "lines": [
                {
                    "item_id": line["item_id"],
                    "quantity": line["quantity"],
                    "unit_price": to_number(line["unit_price_minor"]),
                }
                for line in lines
            ],
            "total": to_number(total_minor),
            "currency": currency,
            "created_at": created_at,
            "updated_at": updated_at,
        }

    @classmethod
    def of(cls, order: Order) -> "OrderRead":
        return cls(
            id=order.id,
            status=order.status,
            lines=[
                OrderLineRead(
                    item_id=line.item_id,
                    quantity=line.quantity,
                    unit_price=to_number(line.unit_price_minor),
                )
                for line in order.lines
            ],
            total=to_number(order.total_minor),
            currency=order.currency,
            created_at=order.created_at,
            updated_at=order.updated_at,
        )


class Sale(NamedTuple):
    """An order as a sales record, for reports."""

    order_id: int
    created_at: datetime
    status: OrderStatus
    customer_id: int
    currency: str
    units: int
    total_minor: int
