"""The table this instance routes by: refreshed from the store, kept when the store is lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from redis.exceptions import RedisError

from gateway.changes import ChangeError, load, restore, seed
from gateway.routes import RouteTable, RouteTableError
from gateway.store import RouteStore

log = logging.getLogger("gateway.live")


class LiveTable:
    """Polls the store's version every `interval_s`; a new version is loaded and swapped in.

    Polling one small key (rather than pub/sub alone) means a missed message can never
    leave an instance behind, and the bound on staleness is simply the interval. A stored
    version is served on this instance's own upstream URLs (the routes file's, with
    GATEWAY_UPSTREAM_<NAME> applied: `initial`'s), and refused, the previous one kept, when
    it has no audit entry or names an upstream this instance has no URL for.
    """

    def __init__(self, store: RouteStore, initial: RouteTable, interval_s: float = 0.25) -> None:
        self.store = store
        self.upstreams: Mapping[str, str] = dict(initial.upstreams)  # name -> URL, configured
        self.seed_table = initial
        self.current = initial  # the stored table this instance last adopted (version 0: none)
        self.interval_s = interval_s
        self.store_up = True
        self.last_error: str | None = None
        self.refused: int | None = None  # the newest stored version this instance refused

    @property
    def served(self) -> RouteTable:
        return self.current

    async def refresh(self) -> None:
        try:
            version = await self.store.version()
            if version < self.served.version:
                # the store lost writes (a Redis restarted from older data, or empty): keep
                # what this instance served, and put it back, rather than go back in time
                restored = await restore(self.store, self.served, version)
                if restored:
                    log.warning(
                        "route store held version %s; restored %s", version, restored.version
                    )
            elif version == 0:  # first start: the routes file's table becomes version 1
                self._adopt(await seed(self.store, self.seed_table))
            elif version != self.served.version and version != self.refused:
                try:
                    self._adopt(await load(self.store, self.upstreams))
                except (RedisError, OSError):
                    raise
                except Exception as exc:  # any table this instance cannot serve is refused
                    if await self.store.version() != version:
                        return  # a change landed between our reads: the next poll loads it
                    self.refused = version
                    log.error(
                        "route table version %s refused, still serving version %s: %s",
                        version,
                        self.current.version,
                        exc,
                    )
                    return
                log.info("route table version %s loaded", self.current.version)
        except (RedisError, OSError, ChangeError, RouteTableError) as exc:
            self._lost(exc)
            return
        if not self.store_up:
            log.warning("route store is back; table version %s", self.current.version)
        self.store_up = True
        self.last_error = None

    def _adopt(self, table: RouteTable) -> None:
        self.current = table
        self.refused = None

    def _lost(self, exc: Exception) -> None:
        if self.store_up:
            log.error(
                "route store unreachable, serving table version %s: %s", self.current.version, exc
            )
        self.store_up = False
        self.last_error = f"{type(exc).__name__}: {exc}"

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # this loop is the only way a kill switch arrives: never end it
                log.exception("route table refresh failed; trying again")
            await asyncio.sleep(self.interval_s)
