"""Side effects that wait for the commit of the unit of work that caused them."""

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

AfterCommit = Callable[[], Awaitable[None]]
EFFECTS_KEY = "storefront.after_commit"

logger = logging.getLogger("storefront.db")


def after_commit(session: AsyncSession, effect: AfterCommit) -> None:
    """Run `effect` once the unit of work that owns `session` has committed.

    Effects are awaited before the response is sent (so an enqueue has at least been
    attempted when the client hears back): keep them short and bounded by their own
    timeouts. A failing effect is logged; the commit stands.
    """
    session.info.setdefault(EFFECTS_KEY, []).append(effect)


def pop_effects(session: AsyncSession) -> list[AfterCommit]:
    effects: list[AfterCommit] = session.info.pop(EFFECTS_KEY, [])
    return effects


async def run_effects(effects: list[AfterCommit]) -> None:
    for effect in effects:
        try:
            await effect()
        except Exception:
            logger.exception("after-commit effect failed", extra={"effect": repr(effect)})
