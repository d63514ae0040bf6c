"""Side effects that wait for the commit of the unit of work that caused them."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

AfterCommit = Callable[[], Awaitable[None]]


class Work(Protocol):
    """A unit of work: an ORM session, or a transaction of Core statements (core/db.py)."""

    @property
    def info(self) -> dict[str, Any]: ...


EFFECTS_KEY = "storefront.after_commit"

logger = logging.getLogger("storefront.db")


def after_commit(work: Work, effect: AfterCommit) -> None:
    """Run `effect` once the unit of work `work` has committed.

    Effects are awaited before the response is sent (so an enqueue has at least been
    attempted when the client hears back): keep them short and bounded by their own
    timeouts. A failing effect is logged; the commit stands.
    """
    work.info.setdefault(EFFECTS_KEY, []).append(effect)


def pop_effects(work: Work) -> list[AfterCommit]:
    effects: list[AfterCommit] = work.info.pop(EFFECTS_KEY, [])
    return effects


async def run_effects(effects: list[AfterCommit]) -> None:
    for effect in effects:
        try:
            await effect()
        except Exception:
            logger.exception("after-commit effect failed", extra={"effect": repr(effect)})
