"""Every domain's models, imported so `Base.metadata` is complete for Alembic."""

from storefront.auth.models import ApiKey, AuthSession, PasswordResetToken, RefreshToken
from storefront.catalog.models import Item
from storefront.files.models import File
from storefront.jobs.models import Job
from storefront.kit.models import Base
from storefront.orders.models import IdempotencyRecord, Order, OrderLine
from storefront.reports.models import Report
from storefront.users.models import User

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "AuthSession",
    "Base",
    "File",
    "IdempotencyRecord",
    "Item",
    "Job",
    "Order",
    "OrderLine",
    "PasswordResetToken",
    "RefreshToken",
    "Report",
    "User",
    "metadata",
]
