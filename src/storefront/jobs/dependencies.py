from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from storefront.jobs.queue import JobQueue


async def get_job_queue(connection: HTTPConnection) -> JobQueue:
    queue: JobQueue = connection.state.jobs.queue
    return queue


Queue = Annotated[JobQueue, Depends(get_job_queue)]
