"""Items of the catalog. Prices are integer minor units (cents); never a float."""

from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storefront.kit.models import Base, BigId, TimestampMixin


class Item(TimestampMixin, Base):
    """Full-text search structures (a tsvector column on PostgreSQL, an FTS5 table on
    SQLite) are backend-specific and live in the migrations only: see catalog/repository.py."""

    __tablename__ = "item"
    __table_args__ = (
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("units_sold >= 0", name="units_sold_not_negative"),
        # One per sort order of the listing, id last as there: a page is read from it.
        Index("ix_item_created_at_id", "created_at", "id"),
        Index("ix_item_name_id", "name", "id"),
        Index("ix_item_price_minor_id", "price_minor", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), index=True)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int] = mapped_column(Integer)
    # Units in live (not cancelled) orders: the popular list ranks by it.
    units_sold: Mapped[int] = mapped_column(Integer, default=0, index=True)
    image_key: Mapped[str | None] = mapped_column(String(255))
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    # The last uploaded original (catalog/images.py). A resize job applies its renditions
    # only while its original is still this one, so a later upload always wins.
    image_original_key: Mapped[str | None] = mapped_column(String(255))

    def as_row(self) -> dict[str, Any]:
        """The item's columns, as a read (core/reads.py) returns them."""
        return {column.key: getattr(self, column.key) for column in self.__table__.columns}


class ItemCount(Base):
    """How many items there are, kept by triggers on item (migration 0008): the listing's
    total without counting every row on every request."""

    __tablename__ = "item_count"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    items: Mapped[int] = mapped_column(BigInteger)
