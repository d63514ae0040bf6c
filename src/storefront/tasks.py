"""Every domain's job modules, imported so API processes and workers know the same jobs."""

from storefront.catalog import tasks as catalog_tasks
from storefront.files import tasks as file_tasks
from storefront.mail import tasks as mail_tasks
from storefront.orders import tasks as order_tasks
from storefront.reports import tasks as report_tasks

__all__ = ["catalog_tasks", "file_tasks", "mail_tasks", "order_tasks", "report_tasks"]
