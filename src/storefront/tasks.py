"""Every domain's job modules, imported so API processes and workers know the same jobs."""

from storefront.mail import tasks as mail_tasks
from storefront.reports import tasks as report_tasks

__all__ = ["mail_tasks", "report_tasks"]
