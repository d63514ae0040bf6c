"""Every domain's models, imported so `Base.metadata` is complete for Alembic."""

from storefront.jobs.models import Job
from storefront.kit.models import Base
from storefront.reports.models import Report

metadata = Base.metadata

__all__ = ["Base", "Job", "Report", "metadata"]
