"""Item schemas of API v1 (price: a number) and v2 (price: an amount and a currency)."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field

from storefront.core.statements import Row
from storefront.kit.money import Amount, Currency, to_number, to_text
from storefront.kit.schemas import InputModel

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
Category = Annotated[str, Field(min_length=1, max_length=64)]
Stock = Annotated[int, Field(ge=0, le=10_000_000)]


class ItemSort(StrEnum):
    NAME = "name"
    NAME_DESC = "-name"
    PRICE = "price"
    PRICE_DESC = "-price"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"


class ItemCreate(InputModel):
    sku: Sku
    name: Name
    description: Description = ""
    category: Category
    price: Amount
    currency: Currency = "EUR"
    stock: Stock = 0


class ItemUpdate(InputModel):
    sku: Sku | None = None
    name: Name | None = None
    description: Description | None = None
    category: Category | None = None
    price: Amount | None = None
    currency: Currency | None = None
    stock: Stock | None = None


class ItemBase(BaseModel):
    id: int
    sku: str
    name: str
    description: str
    category: str
    stock: int
    image_url: str | None
    thumbnail_url: str | None
    created_at: datetime
    updated_at: datetime


def _common(item: Row) -> dict[str, Any]:
    item_id = item["id"]
    return {
        "id": item_id,
        "sku": item["sku"],
        "name": item["name"],
        "description": item["description"],
        "category": item["category"],
        "stock": item["stock"],
        "image_url": f"/api/v1/items/{item_id}/image" if item["image_key"] else None,
        "thumbnail_url": f"/api/v1/items/{item_id}/thumbnail" if item["thumbnail_key"] else None,
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }


class ItemRead(ItemBase):
    """API v1: `price` is a number with two decimal places, `currency` beside it."""

    price: float = Field(description="Two decimal places at most.", examples=[12.5])
    currency: str

    @staticmethod
    def fields_of(item: Row) -> dict[str, Any]:
        """The JSON object of an item row, exactly as this schema describes it."""
        fields = _common(item)
        fields["price"] = to_number(item["price_minor"])
        fields["currency"] = item["currency"]
        return fields


class Money(BaseModel):
    amount: str = Field(pattern=r"^\d+\.\d{2}$", examples=["12.50"])
    currency: str = Field(examples=["EUR"])


class ItemReadV2(ItemBase):
    """API v2: `price` is an exact decimal string with its currency."""

    price: Money

    @staticmethod
    def fields_of(item: Row) -> dict[str, Any]:
        fields = _common(item)
        fields["price"] = {"amount": to_text(item["price_minor"]), "currency": item["currency"]}
        return fields
