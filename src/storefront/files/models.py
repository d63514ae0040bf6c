"""Uploaded files: metadata here, the bytes in storage under `storage_key`."""

import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storefront.kit.models import Base, TimestampMixin

UserId = BigInteger().with_variant(Integer(), "sqlite")


class File(TimestampMixin, Base):
    __tablename__ = "file"
    __table_args__ = (
        CheckConstraint("size >= 0", name="size_not_negative"),
        CheckConstraint("length(sha256) = 64", name="sha256_hex"),
    )

    # Random, so that a file's URL reveals nothing about how many others exist.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[int] = mapped_column(
        UserId, ForeignKey("user.id", ondelete="RESTRICT"), index=True
    )
    # The client's name, sanitised for display; never part of a path.
    filename: Mapped[str] = mapped_column(String(255))
    # Sniffed from the content, not the client's claim.
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
