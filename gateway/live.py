"""The table this instance routes by: refreshed from the store, kept when the store is lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from redis.exceptions import RedisError

from gateway.changes import ChangeError, load, seed
from gateway.routes import RouteTable, RouteTableError
from gateway.store import RouteStore

log = logging.getLogger("gateway.live")


class LiveTable:
    """Polls the store's version every `interval_s`; a new version is loaded and swapped in.

    Polling one small key (rather than pub/sub alone) means a missed message can never
    leave an instance behind, and the bound on staleness is simply the interval.
    """

    def __init__(
        self,
        store: RouteStore,
        initial: RouteTable,
        interval_s: float = 0.25,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        # GATEWAY_UPSTREAM_<NAME>: this instance's URL for an upstream, whatever the table says
        self.overrides = dict(overrides or {})
        self.seed_table = initial
        self.current = initial
        self.interval_s = interval_s
        self.store_up = True
        self.last_error: str | None = None

    async def refresh(self) -> None:
        try:
            version = await self.store.version()
            if version == 0:  # an empty store (first start, or a Redis that lost its data)
                # keep what this instance was serving rather than reverting to the file
                self.current = await seed(
                    self.store, self.current if self.current.version else self.seed_table
                )
            elif version != self.current.version:
                self.current = (await load(self.store)).with_upstreams(self.overrides)
                log.info("route table version %s loaded", self.current.version)
        except (RedisError, OSError, ChangeError, RouteTableError) as exc:
            self._lost(exc)
            return
        if not self.store_up:
            log.warning("route store is back; table version %s", self.current.version)
        self.store_up = True
        self.last_error = None

    def _lost(self, exc: Exception) -> None:
        if self.store_up:
            log.error(
                "route store unreachable, serving table version %s: %s", self.current.version, exc
            )
        self.store_up = False
        self.last_error = f"{type(exc).__name__}: {exc}"

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval_s)
