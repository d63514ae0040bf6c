from tests.fixtures.jobs import job_database, job_settings, jobs
from tests.jobs import sample_tasks  # registers the test jobs

__all__ = ["job_database", "job_settings", "jobs", "sample_tasks"]
