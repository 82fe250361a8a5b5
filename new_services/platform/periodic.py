"""Housekeeping a service runs in its own process, now and then, for as long as it serves:
releasing expired stock holds (catalog), dropping expired Idempotency-Key records (every
service that keeps them). Each round is safe to run in several instances at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def periodically(
    what: str, every_s: float, job: Callable[[], Awaitable[int]]
) -> AsyncIterator[None]:
    """Run `job` every `every_s` seconds while the block runs (never when `every_s` <= 0).
    A failed round is logged and tried again next time; a round that did something (its
    count) is logged."""
    if every_s <= 0:
        yield
        return

    async def loop() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                done = await job()
            except Exception:
                log.exception("%s failed; trying again in %g s", what, every_s)
                continue
            if done:
                log.info("%s: %d", what, done)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
