"""Two independent awaits made at once, their failures raised in the order they are written."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
A = TypeVar("A")
B = TypeVar("B")


async def both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """`first` and `second` at once, so the caller waits for the slower instead of the sum.

    The answer is the one the two calls made one after the other would have given: if
    `first` fails, its failure is raised at once and `second` is cancelled (a check written
    first, such as "does this user exist", wins, and does not wait for the other); if only
    `second` fails, its failure is raised once `first` has succeeded."""
    later = asyncio.ensure_future(second)
    try:
        one = await first
    except BaseException:
        later.cancel()
        later.add_done_callback(_superseded)
        raise
    return one, await later


def _superseded(task: asyncio.Future[Any]) -> None:
    """Read a cancelled second call's outcome, so that a failure it had already met is
    logged, not reported as never retrieved."""
    if not task.cancelled() and task.exception() is not None:
        log.info("a call made beside one that failed also failed", exc_info=task.exception())
