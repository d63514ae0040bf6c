"""Concurrent calls for one key in this process share a single run of the work."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")


def _cancelling_current_task() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class SingleFlight:
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        while (running := self._running.get(key)) is not None:
            try:
                # shield: a waiter that is cancelled must not cancel the shared run.
                return cast(T, await asyncio.shield(running))
            except asyncio.CancelledError:
                if not running.cancelled() or _cancelling_current_task():
                    raise
                # The caller doing the work was cancelled, not this one: take over.
        return await self._lead(key, work)

    async def _lead(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        shared: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[key] = shared
        try:
            result = await work()
        except Exception as error:
            shared.set_exception(error)
            # Marks the exception as retrieved: nobody may have been waiting for it.
            shared.exception()
            raise
        except BaseException:
            shared.cancel()
            raise
        else:
            shared.set_result(result)
            return result
        finally:
            del self._running[key]
