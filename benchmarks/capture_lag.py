"""How long legacy's orders take to reach the extracted sales report (capture lag), under a
steady stream of legacy checkouts, and a move of `reports` to extracted in the middle of it.

Checkouts go through the gateway to legacy (carts-and-checkout in legacy mode), paced on a
fixed schedule. Each order is captured in legacy's transaction (expand step
0005f_capture_legacy_orders), published by the outbox relay and folded in by the analytics
worker. A sampler reads the analytics service's report every 20 ms: the i-th order legacy
confirmed has reached the report when its count first reaches i (orders are counted, not
named, so this is the lag of the i-th confirmation to the i-th count). Halfway, `reports`
is moved to extracted through the admin API, as an operator would (the gateway's guard
allows it while the capture lag is within its bound); at the end, once the relay has caught
up, the report the gateway serves is compared with legacy's own.

    .venv/bin/python benchmarks/capture_lag.py              # 20 checkouts/s for 30 s
    .venv/bin/python benchmarks/capture_lag.py --quick      # 10 s
    DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/capture_lag.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services_compare import bench_settings, buyers, database

from migrations import history
from migrations.database import make_engine
from strangler.parts import admin_token
from strangler.runner import Stack
from strangler.seed import SeedSizes, seed


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


class Sampler(threading.Thread):
    """(moment, order_count) of the analytics report, every 20 ms, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as http:
            while not self.stop.is_set():
                try:
                    count = int(http.get(self.url).json()["order_count"])
                except (httpx.HTTPError, KeyError, ValueError):
                    count = -1
                self.samples.append((time.perf_counter(), count))
                self.stop.wait(0.02)


async def checkouts(gateway: str, users: list[int], rate: float) -> tuple[list[float], int]:
    """One checkout per user on a fixed schedule; the moments legacy confirmed each."""
    confirmed: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(gateway, connector=aiohttp.TCPConnector(limit=64)) as http:

        async def one(user: int, due: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            body = {"card_token": "tok_visa"}
            async with http.post(f"/users/{user}/checkout", json=body) as answer:
                await answer.read()
                if answer.status == 201:
                    confirmed.append(time.perf_counter())
                else:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(one(u, began + n / rate) for n, u in enumerate(users)))
    return sorted(confirmed), errors


def lags(confirmed: list[float], samples: list[tuple[float, int]], base: int) -> list[float]:
    """Seconds from the i-th confirmation to the first sample counting i orders more."""
    found: list[float] = []
    for i, at in enumerate(confirmed, start=1):
        seen = next((t for t, count in samples if count >= base + i and t >= at), None)
        if seen is not None:
            found.append(seen - at)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s instead of 30")
    parser.add_argument("--rate", type=float, default=20.0, help="checkouts a second (20)")
    parser.add_argument("--json", action="store_true", help="figures as JSON on stdout")
    args = parser.parse_args()
    seconds = 10.0 if args.quick else 30.0
    count = int(args.rate * seconds)
    with (
        tempfile.TemporaryDirectory(prefix="capture-bench-") as tmp,
        database(os.environ.get("DATABASE_URL"), Path(tmp)) as url,
    ):
        engine = make_engine(url)
        try:
            history.upgrade(engine, "expand")
            seed(engine, SeedSizes(users=50, products=50, orders=0))
        finally:
            engine.dispose()
        settings = bench_settings(Path(tmp), url)
        stack = Stack(settings)
        stack.up()
        headers = {"Authorization": f"Bearer {admin_token(settings)}"}
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        report = f"/reports/sales?from={today}&to={today}"
        try:
            users = buyers(url, count)
            with httpx.Client(base_url=settings.url("gateway-admin"), headers=headers) as admin:
                base = int(httpx.get(settings.url("analytics") + report).json()["order_count"])
                sampler = Sampler(settings.url("analytics") + report)
                sampler.start()
                moved: dict[str, Any] = {}

                def move_reports() -> None:
                    time.sleep(seconds / 2)
                    answer = admin.patch(
                        "/routes/reports",
                        json={"mode": "extracted", "fallback": False, "reason": "benchmark"},
                    )
                    moved.update(status=answer.status_code, body=answer.json())

                mover = threading.Thread(target=move_reports)
                mover.start()
                confirmed, errors = asyncio.run(
                    checkouts(settings.url("gateway"), users, args.rate)
                )
                mover.join()
                deadline = time.monotonic() + 60
                legacy_report = httpx.get(settings.url("legacy") + report).json()
                while (
                    served := httpx.get(settings.url("gateway") + report).json()
                ) != legacy_report and time.monotonic() < deadline:
                    time.sleep(0.1)
                sampler.stop.set()
                sampler.join()
        finally:
            stack.down()
    measured = lags(confirmed, sampler.samples, base)
    result: dict[str, Any] = {
        "database": "postgresql" if "postgresql" in url else "sqlite",
        "rate": args.rate,
        "seconds": seconds,
        "orders": len(confirmed),
        "errors": errors,
        "measured": len(measured),
        "lag_p50_s": round(statistics.median(measured), 3) if measured else None,
        "lag_p99_s": round(percentile(measured, 0.99), 3) if measured else None,
        "lag_max_s": round(max(measured), 3) if measured else None,
        "reports_move": moved.get("status"),
        "reports_equal_at_end": served == legacy_report,
        "order_count": [legacy_report.get("order_count"), served.get("order_count")],
    }
    print(render(result), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0 if result["reports_equal_at_end"] and moved.get("status") == 200 else 1


def render(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"capture lag, legacy checkouts at {r['rate']:g}/s for {r['seconds']:g} s "
            f"({r['database']}): {r['orders']} orders, {r['errors']} errors",
            f"lag from legacy's 201 to the extracted report counting it: p50 {r['lag_p50_s']} s, "
            f"p99 {r['lag_p99_s']} s, max {r['lag_max_s']} s ({r['measured']} measured)",
            f"reports moved to extracted halfway: {r['reports_move']}; at the end the gateway's "
            f"report equals legacy's: {r['reports_equal_at_end']} (order_count legacy / served "
            f"{r['order_count'][0]} / {r['order_count'][1]})",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
