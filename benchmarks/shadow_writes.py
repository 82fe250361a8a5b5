"""What shadowing writes costs the primary: the shop's writes through the gateway with their
route in legacy mode, then in shadow mode mirroring every write as a dry run, in one run.

A mirrored write's dry run leads it (gateway/shadow.py): the primary goes to legacy once the
dry run has answered, so every mirrored write waits for one dry run. This prints that price
on the real stack: cart adds and checkouts, paced (a fixed schedule, latency counted from
each scheduled start), rounds alternating legacy mode and shadow mode so that drift on the
machine hits both alike; and how the mirrors were judged.

    .venv/bin/python benchmarks/shadow_writes.py             # about 2 minutes
    .venv/bin/python benchmarks/shadow_writes.py --quick     # about 40 s
    DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/shadow_writes.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services_compare import Figures, bench_settings, buyers, database, machine_speed_ms

from migrations import history
from migrations.database import make_engine
from strangler.parts import admin_token
from strangler.runner import Stack
from strangler.seed import SeedSizes, seed

ROUTE = "carts-and-checkout"
MODES = {"legacy": {"mode": "legacy"}, "shadow": {"mode": "shadow", "dry_run": True}}
JUDGED = ("match", "mismatch", "late", "moved", "stale", "candidate_error", "dropped")

Send = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


async def paced(gateway: str, users: list[int], send: Send, rate: float, seconds: float) -> Figures:
    """`rate` requests a second on a fixed schedule, each for the next user, for `seconds`."""
    latencies: list[float] = []
    errors = 0
    queue = list(reversed(users))
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(gateway, connector=connector) as http:

        async def one(due: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            status = await send(http, queue.pop())
            latencies.append((time.perf_counter() - due) * 1000)
            errors += status >= 300

        began = time.perf_counter()
        count = min(int(rate * seconds), len(queue))
        await asyncio.gather(*(one(began + n / rate) for n in range(count)))
        took = time.perf_counter() - began
    return Figures(latencies, took, errors)


def adding(product: int) -> Send:
    async def send(http: aiohttp.ClientSession, user: int) -> int:
        line = {"product_id": product, "quantity": 1}
        async with http.post(f"/users/{user}/cart/items", json=line) as answer:
            await answer.read()
            return answer.status

    return send


async def checking_out(http: aiohttp.ClientSession, user: int) -> int:
    async with http.post(f"/users/{user}/checkout", json={"card_token": "tok_visa"}) as answer:
        await answer.read()
        return answer.status


def judged(admin: httpx.Client) -> dict[str, int]:
    """The route's mirror outcomes, once two reads 0.5 s apart agree (mirrors settle)."""
    last: dict[str, int] | None = None
    while True:
        found = admin.get("/parity", params={"route": ROUTE}).json()["routes"].get(ROUTE, {})
        counts = {k: found.get(k, 0) for k in JUDGED}
        if counts == last:
            return counts
        last = counts
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter rounds")
    parser.add_argument("--rate", type=float, default=10.0, help="writes a second (10)")
    parser.add_argument("--seconds", type=float, default=None, help="per round (15)")
    parser.add_argument("--rounds", type=int, default=2, help="legacy, shadow pairs (2)")
    parser.add_argument("--json", action="store_true", help="figures as JSON on stdout")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 15.0)
    per_round = int(args.rate * seconds)
    speed_before = machine_speed_ms()
    with (
        tempfile.TemporaryDirectory(prefix="shadow-bench-") as tmp,
        database(os.environ.get("DATABASE_URL"), Path(tmp)) as url,
    ):
        engine = make_engine(url)
        try:
            history.upgrade(engine, "expand")
            seed(engine, SeedSizes(users=100, products=50, orders=1_000))
        finally:
            engine.dispose()
        settings = bench_settings(Path(tmp), url)
        stack = Stack(settings)
        stack.up()
        headers = {"Authorization": f"Bearer {admin_token(settings)}"}
        rows: dict[str, dict[str, list[Figures]]] = {
            kind: {mode: [] for mode in MODES} for kind in ("cart_add", "checkout")
        }
        mirrors: dict[str, int] = dict.fromkeys(JUDGED, 0)
        try:
            with httpx.Client(base_url=settings.url("gateway-admin"), headers=headers) as admin:
                ready = buyers(url, per_round * 2 * len(MODES) * args.rounds)
                product = 1  # seeded, and in stock for good (`buyers` restocks them all)
                gateway = settings.url("gateway")
                for round_ in range(args.rounds):
                    for n, (mode, change) in enumerate(MODES.items()):
                        reason = {"reason": f"benchmark: {mode} mode"}
                        admin.patch(f"/routes/{ROUTE}", json={**change, **reason})
                        before = judged(admin)
                        first = (round_ * len(MODES) + n) * 2 * per_round
                        users = ready[first : first + 2 * per_round]
                        for kind, send, who in (
                            ("cart_add", adding(product), users[:per_round]),
                            ("checkout", checking_out, users[per_round:]),
                        ):
                            figures = asyncio.run(paced(gateway, who, send, args.rate, seconds))
                            rows[kind][mode].append(figures)
                        if mode == "shadow":
                            after = judged(admin)
                            for k in JUDGED:
                                mirrors[k] += after[k] - before[k]
        finally:
            stack.down()
    result: dict[str, Any] = {"rate": args.rate, "seconds": seconds, "rounds": args.rounds}
    for kind, by_mode in rows.items():
        result[kind] = {mode: _merged(runs) for mode, runs in by_mode.items()}
        legacy, shadow = result[kind]["legacy"], result[kind]["shadow"]
        result[kind]["p99_shadow_over_legacy"] = round(shadow["p99_ms"] / legacy["p99_ms"], 3)
        result[kind]["p50_added_ms"] = round(shadow["p50_ms"] - legacy["p50_ms"], 1)
    result["mirrors"] = mirrors
    result["database"] = "postgresql" if "postgresql" in url else "sqlite"
    result["machine_speed_ms"] = [speed_before, machine_speed_ms()]
    print(render(result), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


def _merged(runs: list[Figures]) -> dict[str, float]:
    return Figures(
        [ms for run in runs for ms in run.latencies_ms],
        sum(run.seconds for run in runs),
        sum(run.errors for run in runs),
    ).row()


def render(result: dict[str, Any]) -> str:
    lines = [
        f"shadowed writes, paced at {result['rate']:g}/s, {result['rounds']} rounds of "
        f"{result['seconds']:g} s per mode ({result['database']})",
        f"{'write':<10} {'mode':<8} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}",
    ]
    for kind in ("cart_add", "checkout"):
        for mode in MODES:
            row = result[kind][mode]
            lines.append(
                f"{kind:<10} {mode:<8} {row['requests']:>8} {row['p50_ms']:>8} "
                f"{row['p99_ms']:>8} {row['errors']:>6}"
            )
        ratio = result[kind]["p99_shadow_over_legacy"]
        verdict = "met" if ratio <= 1.1 else "MISS"
        lines.append(
            f"{kind:<10} shadow p99 / legacy p99 = {ratio:.3f} (target <= 1.10: {verdict}); "
            f"p50 +{result[kind]['p50_added_ms']} ms"
        )
    mirrors = ", ".join(f"{k} {v}" for k, v in result["mirrors"].items() if v)
    lines.append(f"mirrors judged in the shadow rounds: {mirrors or 'none'}")
    before, after = result["machine_speed_ms"]
    lines.append(f"machine-speed loop before / after: {before} / {after} ms")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
