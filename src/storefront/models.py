"""Every domain's models, imported so `Base.metadata` is complete for Alembic."""

from storefront.auth.models import ApiKey, AuthSession, PasswordResetToken, RefreshToken
from storefront.jobs.models import Job
from storefront.kit.models import Base
from storefront.reports.models import Report
from storefront.users.models import User

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "AuthSession",
    "Base",
    "Job",
    "PasswordResetToken",
    "RefreshToken",
    "Report",
    "User",
    "metadata",
]
