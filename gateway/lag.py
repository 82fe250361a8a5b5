"""How late the event loop runs a timer: the gateway's own measure of how busy it is.

A gateway that runs out of CPU does not refuse anything: requests just wait longer for
their turn on the loop. Shadow mirrors are optional work, so they give way first
(`gateway/shadow.py` sheds them while the lag is over `GATEWAY_SHADOW_MAX_LAG_MS`).
"""

from __future__ import annotations

import asyncio

from prometheus_client import Gauge


class LoopLag:
    """Sleeps `interval_s` again and again and keeps how much later than asked it woke.

    `seconds` is the larger of the last lag and half the previous value, so one quiet tick
    in a busy spell does not read as idle.
    """

    def __init__(self, interval_s: float = 0.005, gauge: Gauge | None = None) -> None:
        self.interval_s = interval_s
        self.seconds = 0.0
        self._gauge = gauge

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self.interval_s)
            late = max(loop.time() - asked - self.interval_s, 0.0)
            self.seconds = max(late, self.seconds / 2)
            if self._gauge is not None:
                self._gauge.set(self.seconds)
