"""How busy the gateway's event loop is: the signal shadow mirrors give way to.

A gateway that runs out of CPU refuses nothing: its requests just wait longer for their
turn on the loop. Mirrors are optional work, so they give way first (`gateway/shadow.py`
drops them while `busy` is over `GATEWAY_SHADOW_MAX_BUSY`).

`busy` is the share of wall time the loop's thread spent running (its CPU clock) or
waiting for a CPU (Linux's `/proc/thread-self/schedstat`; elsewhere not counted). A
saturated gateway reads 0.95-1.0 even when it shares its core with a backend (it then
waits for the CPU instead of running), an idle one 0.02. The loop's lag, how late a timer
fires, was the signal before: on a fast machine a saturated loop ran the timer only 1-3 ms
late, so a lag threshold let a third of the mirrors through at saturation and the
primary's p99 doubled (`benchmarks/gateway_proxy.py`, shadow rows). The lag stays as a
gauge: operators read it as the delay every request pays for its turn.
"""

from __future__ import annotations

import asyncio
import os
import time

from prometheus_client import Gauge

SCHEDSTAT = "/proc/thread-self/schedstat"  # ns on a CPU, ns waiting for one, time slices


class ThreadClock:
    """Seconds the thread that made it has run or waited to run, read in that same thread.

    The run time is the thread's CPU clock (exact whenever read); schedstat's own run time
    is only brought up to date at scheduler ticks, so a thread that never sleeps read 0.8
    and 1.0 by turns over 10 ms. The wait comes from schedstat; without it (not Linux, or
    a line it cannot read) the CPU clock alone: right where the gateway has a core to
    itself, an underestimate where it shares one."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open(SCHEDSTAT, os.O_RDONLY)
        except OSError:
            self._fd = None

    def __call__(self) -> float:
        return time.thread_time() + self._waited()

    def _waited(self) -> float:
        if self._fd is None:
            return 0.0
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            self.close()
            return 0.0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class LoopLoad:
    """Wakes every `interval_s` and keeps how busy the loop was since the last tick, and
    how late the tick came.

    Both readings are the larger of the last tick's and half the one before, so one quiet
    tick in a busy spell does not read as idle.
    """

    def __init__(
        self,
        interval_s: float = 0.01,
        lag_gauge: Gauge | None = None,
        busy_gauge: Gauge | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.busy = 0.0  # 0..1
        self.lag_s = 0.0
        self._lag_gauge = lag_gauge
        self._busy_gauge = busy_gauge

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        clock = ThreadClock()  # made here: the loop's own thread
        try:
            used, wall = clock(), time.perf_counter()
            while True:
                asked = loop.time()
                await asyncio.sleep(self.interval_s)
                late = max(loop.time() - asked - self.interval_s, 0.0)
                used_now, wall_now = clock(), time.perf_counter()
                share = min((used_now - used) / max(wall_now - wall, 1e-6), 1.0)
                used, wall = used_now, wall_now
                self.observe(share, late)
        finally:
            clock.close()

    def observe(self, share: float, late_s: float) -> None:
        self.busy = max(share, self.busy / 2)
        self.lag_s = max(late_s, self.lag_s / 2)
        if self._busy_gauge is not None:
            self._busy_gauge.set(self.busy)
        if self._lag_gauge is not None:
            self._lag_gauge.set(self.lag_s)
