from tests.fixtures.jobs import job_database, job_settings, jobs
from tests.fixtures.smtp import smtp_server

__all__ = ["job_database", "job_settings", "jobs", "smtp_server"]
