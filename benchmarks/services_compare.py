"""Legacy path against extracted path, side by side in one run, through the gateway.

Starts the whole stack (`strangler.runner.Stack`) on a seeded database, then sends the same
requests down both code paths with the gateway's developer override
(`X-Strangler-Target: legacy|extracted` with the internal token), and prints:

- checkout: p50, p99 and throughput under N concurrent clients (default 32), with the mail
  server delaying each message (default 200 ms). Legacy sends the e-mail inside the
  request; the extracted path leaves it to the outbox and the notifications worker.
- one user's order history with the database holding 100,000 orders: legacy (a query per
  order) against the orders service's v1 (same JSON, one indexed query) and v2 (the
  first cursor page of 20, through the gateway's `orders-v2` route). Legacy is measured
  twice: on the same expanded database (whose indexes its queries use too), and as
  shipped, on a second database with the same rows and legacy's own schema (no index on
  orders.user_id nor order_items.order_id: each of its queries scans a table). Beside them,
  the same v2 page for a user with no orders: what any page costs before it holds a row,
  which bounds every speed-up the history can show.

It checks as it goes that both paths answer the same history byte for byte and that every
checkout got its 201. It is not a test: it prints figures beside the issue's targets.

    .venv/bin/python benchmarks/services_compare.py              # about 4.5 minutes
    .venv/bin/python benchmarks/services_compare.py --quick      # about 1 minute
    DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/services_compare.py         # a fresh database there
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from legacy_app import db
from migrations import history
from migrations.database import make_engine
from strangler.parts import internal_token, plan
from strangler.runner import Stack, port_is_free, running
from strangler.seed import SeedSizes, seed
from strangler.settings import PORT_OFFSETS, Settings

SIDES = ("legacy", "extracted")


@dataclass
class Figures:
    latencies_ms: list[float]
    seconds: float
    errors: int

    def row(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ms)
        return {
            "requests": len(ordered),
            "p50_ms": round(statistics.median(ordered), 1),
            "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 1),
            "per_s": round(len(ordered) / self.seconds, 1),
            "errors": self.errors,
        }


@contextmanager
def database(server_url: str | None, work: Path) -> Iterator[str]:
    """A fresh SQLite file, or a fresh database on the server named by `server_url`."""
    if not server_url or server_url.startswith("sqlite"):
        yield f"sqlite:///{work / 'shop.db'}"
        return
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"strangler_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_base() -> int:
    for base in range(21_000, 32_000, 20):
        if all(port_is_free("127.0.0.1", base + n) for n in range(max(PORT_OFFSETS.values()) + 1)):
            return base
    raise SystemExit("no free block of ports")


def bench_settings(work: Path, url: str) -> Settings:
    """A stack of its own in `work` on free ports and its own Redis keys, on `url`."""
    return replace(
        Settings.from_env(),
        home=work / "stack",
        port_base=free_base(),
        port_overrides=(),
        database_url=url,
        namespace=f"bench-{uuid.uuid4().hex[:8]}",
    )


def prepare(url: str, orders: int, users: int) -> None:
    engine = make_engine(url)
    try:
        history.upgrade(engine, "expand")
        started = time.perf_counter()
        seed(engine, SeedSizes(users=users, products=200, orders=orders))
        settle(engine)
        print(
            f"seeded {orders:,} orders for {users:,} users in {time.perf_counter() - started:.1f} s"
        )
    finally:
        engine.dispose()


def settle(engine: Engine) -> None:
    """Statistics and a vacuum now, as pgbench does before it measures: left to autovacuum,
    they would come in the middle of a run, at a different moment in each."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")


def buyers(url: str, count: int) -> list[int]:
    """Users with a two-line cart, ready to check out (written straight into the tables)."""
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    try:
        with engine.begin() as conn:
            products = conn.execute(select(db.products.c.id).limit(20)).scalars().all()
            conn.execute(db.products.update().values(stock=10_000_000))
            tag = uuid.uuid4().hex[:8]
            rows = [
                {"email": f"bench-{tag}-{n}@example.com", "name": f"Buyer {n}", "created_at": now}
                for n in range(count)
            ]
            ids = [
                conn.execute(insert(db.users).values(row)).inserted_primary_key[0] for row in rows
            ]
            lines = [
                {
                    "user_id": user,
                    "product_id": products[(n + k) % len(products)],
                    "quantity": 1 + k,
                    "added_at": now,
                }
                for n, user in enumerate(ids)
                for k in range(2)
            ]
            conn.execute(insert(db.cart_items), lines)
        return [int(i) for i in ids]
    finally:
        engine.dispose()


async def checkout_run(
    gateway: str,
    token: str,
    side: str,
    users: list[int],
    clients: int,
    seconds: float,
    rate: float | None = None,
) -> Figures:
    """`clients` concurrent clients checking out for `seconds`: back to back (saturation),
    or, with `rate`, together starting `rate` checkouts a second on a fixed schedule
    (latency then counts from the scheduled start, so a backlog shows as latency)."""
    headers = {"X-Strangler-Token": token, "X-Strangler-Target": side}
    queue = list(reversed(users))
    latencies: list[float] = []
    errors = 0
    # aiohttp, not httpx: the load generator shares the two cores with the stack, and
    # httpx's pool costs several times more CPU per request (new_services/platform/clients.py)
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        gateway, headers=headers, timeout=timeout, connector=connector
    ) as http:

        async def client(n: int, began: float, deadline: float) -> None:
            nonlocal errors
            sent = 0
            while queue and time.perf_counter() < deadline:
                started = time.perf_counter()
                if rate is not None:  # client n's k-th checkout is due at (n + k * clients) / rate
                    started = began + (n + sent * clients) / rate
                    if started >= deadline:
                        break
                    await asyncio.sleep(max(0.0, started - time.perf_counter()))
                    sent += 1
                user = queue.pop()
                body = {"card_token": "tok_visa"}
                async with http.post(f"/users/{user}/checkout", json=body) as answer:
                    await answer.read()
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status != 201:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(client(n, began, began + seconds) for n in range(clients)))
        took = time.perf_counter() - began
    if not queue:
        print(f"  ({side}: ran out of prepared buyers; raise --buyers)")
    return Figures(latencies, took, errors)


def history_run(
    gateway: str, token: str, side: str, path: str, repeat: int
) -> tuple[Figures, bytes]:
    headers = {"X-Strangler-Token": token, "X-Strangler-Target": side}
    latencies = []
    body = b""
    with httpx.Client(base_url=gateway, headers=headers, timeout=120) as http:
        for n in range(repeat + 3):
            started = time.perf_counter()
            answer = http.get(path)
            took = (time.perf_counter() - started) * 1000
            assert answer.status_code == 200, answer.text[:200]
            body = answer.content
            if n >= 3:  # three to warm up
                latencies.append(took)
    return Figures(latencies, sum(latencies) / 1000, 0), body


def legacy_as_shipped(
    server_url: str | None, work: Path, orders: int, users: int, path: str, repeat: int
) -> Figures:
    """The same history from the legacy shop on its own schema, as it ran before the
    migration (no index on orders.user_id nor order_items.order_id), on a second database
    seeded with the same rows; called directly, as no gateway stood in front of it then."""
    work.mkdir()
    with database(server_url, work) as url:
        engine = make_engine(url)
        try:
            seed(engine, SeedSizes(users=users, products=200, orders=orders))
            settle(engine)
        finally:
            engine.dispose()
        settings = replace(
            Settings.from_env(),
            home=work,
            port_base=free_base(),
            port_overrides=(),
            database_url=url,
        )
        (legacy,) = [part for part in plan(settings) if part.name == "legacy"]
        with running(legacy, work, timeout_s=120):
            figures, _ = history_run(legacy.url, "", "legacy", path, max(3, repeat // 10))
    return figures


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time used so far by each part's process group, and by the machine's PostgreSQL
    and Redis servers when the stack uses them (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    leaders = {pid: name for name, pid in stack.pids().items()}
    used: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        pgid, cpu = int(fields[2]), (int(fields[11]) + int(fields[12])) / tick
        name = leaders.get(pgid)
        if name is None and comm.startswith(("postgres", "redis-server")):
            name = comm.split(":")[0].split()[0] + " (server)"
        if name is not None:
            used[name] = used.get(name, 0.0) + cpu
    return used


def cpu_per_checkout(
    before: dict[str, float], after: dict[str, float], checkouts: int
) -> dict[str, float]:
    """Milliseconds of CPU each part spent per checkout between two readings."""
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    return {
        name: round(seconds * 1000 / max(1, checkouts), 1)
        for name, seconds in sorted(spent.items(), key=lambda item: -item[1])
        if seconds * 1000 / max(1, checkouts) >= 0.5
    }


def machine_speed_ms() -> float:
    """A fixed piece of pure-Python work, best of five: how fast this machine is right now
    (lower is faster), so runs from slow and fast spells of a VM can be told apart."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(i * i for i in range(300_000))
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def user_without_orders(url: str) -> int:
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    row = {
        "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
        "name": "No Orders",
        "created_at": now,
    }
    try:
        with engine.begin() as conn:
            made = conn.execute(insert(db.users).values(row))
            return int(made.inserted_primary_key[0])
    finally:
        engine.dispose()


def busiest_user(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                select(db.orders.c.user_id, func.count())
                .group_by(db.orders.c.user_id)
                .order_by(func.count().desc())
                .limit(1)
            ).one()
        return int(found[0]), int(found[1])
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer orders, shorter runs")
    parser.add_argument("--orders", type=int, default=None, help="orders seeded (100,000)")
    parser.add_argument("--users", type=int, default=1_000, help="users they belong to")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=None, help="per checkout run (20)")
    parser.add_argument("--mail-delay-ms", type=int, default=200)
    parser.add_argument(
        "--rate", type=float, default=15.0, help="checkouts a second in the paced run (15)"
    )
    parser.add_argument("--json", action="store_true", help="figures as JSON on stdout")
    args = parser.parse_args()
    orders = args.orders or (10_000 if args.quick else 100_000)
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    repeat = 10 if args.quick else 30

    speed_before = machine_speed_ms()
    with (
        tempfile.TemporaryDirectory(prefix="services-bench-") as tmp,
        database(os.environ.get("DATABASE_URL"), Path(tmp)) as url,
    ):
        prepare(url, orders, args.users)
        settings = replace(bench_settings(Path(tmp), url), mail_delay_ms=args.mail_delay_ms)
        stack = Stack(settings)
        stack.up()
        try:
            gateway, token = settings.url("gateway"), internal_token(settings)
            user, owned = busiest_user(url)
            result: dict[str, Any] = {"orders": orders, "history_user_orders": owned}
            path = f"/users/{user}/orders"
            legacy_history, legacy_body = history_run(gateway, token, "legacy", path, repeat)
            v1_history, v1_body = history_run(gateway, token, "extracted", path, repeat)
            assert json.loads(legacy_body) == json.loads(v1_body), "the two histories differ"
            v2_path = f"/v2/orders?user_id={user}&limit=20"
            v2_history, _ = history_run(gateway, token, "extracted", v2_path, repeat)
            none_path = f"/v2/orders?user_id={user_without_orders(url)}&limit=20"
            v2_none, none_body = history_run(gateway, token, "extracted", none_path, repeat)
            assert json.loads(none_body)["orders"] == [], "that user has orders"
            shipped = legacy_as_shipped(
                os.environ.get("DATABASE_URL"),
                Path(tmp) / "as-shipped",
                orders,
                args.users,
                path,
                repeat,
            )
            result["history"] = {
                "legacy_as_shipped": shipped.row(),
                "legacy": legacy_history.row(),
                "extracted_v1": v1_history.row(),
                "extracted_v2_first_page": v2_history.row(),
                "extracted_v2_no_orders": v2_none.row(),
            }
            per_side = int(args.clients * seconds * (12 if args.quick else 10))
            ready = buyers(url, per_side * 4)
            result["checkout"] = {}
            result["paced"] = {}
            result["cpu_ms_per_checkout"] = {}
            for n, side in enumerate(SIDES):
                users = ready[n * per_side : (n + 1) * per_side]
                before = cpu_seconds(stack)
                figures = asyncio.run(
                    checkout_run(gateway, token, side, users, args.clients, seconds)
                )
                time.sleep(2)  # the work a checkout leaves behind: mail, events, aggregates
                spent = cpu_per_checkout(before, cpu_seconds(stack), len(figures.latencies_ms))
                result["checkout"][side] = figures.row()
                result["cpu_ms_per_checkout"][side] = spent
            for n, side in enumerate(SIDES):
                users = ready[(2 + n) * per_side : (3 + n) * per_side]
                figures = asyncio.run(
                    checkout_run(gateway, token, side, users, args.clients, seconds, args.rate)
                )
                result["paced"][side] = figures.row()
            result["settings"] = {
                "rate": args.rate,
                "clients": args.clients,
                "mail_delay_ms": args.mail_delay_ms,
                "seconds": seconds,
                "database": make_url(url).get_backend_name(),
                "machine_speed_ms": [speed_before, machine_speed_ms()],
            }
        finally:
            stack.down()
    print(render(result), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


def render(result: dict[str, Any]) -> str:
    s = result["settings"]
    before, after = s["machine_speed_ms"]
    out = [
        f"\nmachine speed: a fixed pure-Python loop took {before} ms before the runs and"
        f" {after} ms after them (lower is faster; compare runs by it)",
        f"checkout through the gateway: {s['clients']} clients, mail delayed"
        f" {s['mail_delay_ms']} ms, {s['seconds']:.0f} s per run, {s['database']}",
    ]
    runs = {
        "checkout": "back to back (saturation)",
        "paced": f"paced: {s['rate']:g} checkouts a second in all",
    }
    for run, title in runs.items():
        out += [
            f"{title}",
            f"  {'path':<12}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}{'per s':>10}{'errors':>8}",
        ]
        for side, row in result[run].items():
            out.append(
                f"  {side:<12}{row['requests']:>10}{row['p50_ms']:>10}{row['p99_ms']:>10}"
                f"{row['per_s']:>10}{row['errors']:>8}"
            )
        legacy, extracted = result[run]["legacy"], result[run]["extracted"]
        out.append(
            f"  p99 legacy / extracted: {legacy['p99_ms'] / extracted['p99_ms']:.1f}x"
            f" (target >= 5x); throughput extracted / legacy:"
            f" {extracted['per_s'] / legacy['per_s']:.1f}x"
        )
    out.append("CPU per checkout in the back-to-back runs, ms, by part (what it left behind incl.)")
    for side, spent in result["cpu_ms_per_checkout"].items():
        parts = ", ".join(f"{name} {ms:g}" for name, ms in spent.items())
        out.append(f"  {side:<10} {sum(spent.values()):6.1f}: {parts}")
    h = result["history"]
    out += [
        f"\none user's order history ({result['history_user_orders']} orders of"
        f" {result['orders']:,} in the database)",
        f"{'path':<34}{'p50 ms':>10}{'p99 ms':>10}",
    ]
    names = {
        "legacy_as_shipped": "legacy, its own schema, direct *",
        "legacy": "legacy GET /users/{id}/orders",
        "extracted_v1": "extracted v1 (same JSON)",
        "extracted_v2_first_page": "extracted GET /v2/orders (20)",
        "extracted_v2_no_orders": "  the same, a user with no orders",
    }
    for key, name in names.items():
        out.append(f"{name:<34}{h[key]['p50_ms']:>10}{h[key]['p99_ms']:>10}")
    for legacy, against in (
        ("legacy", "on the same expanded schema"),
        ("legacy_as_shipped", "as shipped"),
    ):
        base = h[legacy]["p50_ms"]
        out.append(
            f"p50 speed-up over legacy {against}: v1 {base / h['extracted_v1']['p50_ms']:.1f}x, "
            f"v2 page {base / h['extracted_v2_first_page']['p50_ms']:.1f}x (target >= 20x)"
        )
    floor = h["extracted_v2_no_orders"]["p50_ms"]
    out.append(
        f"a page with no orders in it already takes {floor} ms: against legacy on the same"
        f" schema no page can do better than {h['legacy']['p50_ms'] / floor:.1f}x here"
    )
    out.append(
        "* before the expand step added the indexes the services need, which legacy's "
        "queries use too; a second database with the same rows"
    )
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
