"""Schema benchmark: hot queries' plans before and after expand; seed, expand, backfill times.

Seeds a fresh database with the legacy shop (`strangler.seed`), adopts it, EXPLAINs the hot
queries, upgrades to the expanded schema, EXPLAINs them again, runs the UUID backfill and
EXPLAINs once more. Exits 1 when, after expand, a hot query does not use the index the expand
step made for it, 2 when it cannot run (a refused URL, a database that is not empty, time up).
Run it with the repo's venv: `.venv/bin/python benchmarks/schema_explain.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import busy_share
from report import BUSY_WARNING
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    TextClause,
    Uuid,
    bindparam,
    create_engine,
    insert,
    inspect,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from legacy_app import db
from migrations import backfill, history
from migrations.database import make_engine
from migrations.ops import document
from strangler.seed import ANCHOR, SeedReport, SeedSizes, seed

SERVER_URL = "postgresql+psycopg://root@127.0.0.1:5432/postgres"
LOCAL_HOST = "127.0.0.1"
STAGES = ("legacy", "expand", "backfilled")  # the checks hold from "expand" on
CART_SHARE = 0.5  # users with a cart (the seeder makes none; an empty table proves nothing)
UNPUBLISHED = 200  # outbox events the relay has not published yet
CHUNK = 5_000


class BenchError(RuntimeError):
    """The benchmark cannot run here (exit 2)."""


class OutOfTime(BenchError):
    pass


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    table: str
    index: str  # the index the expand step made for this query
    needs: str | None = None  # "uuids" (after the backfill) or "outbox" (after expand)


QUERIES = (
    Query(
        "history",
        "SELECT * FROM orders WHERE user_id = :u ORDER BY created_at DESC, id DESC LIMIT 50",
        "orders",
        "ix_orders_user_id_created_at_id",
    ),
    Query(
        "lines",
        "SELECT * FROM order_items WHERE order_id = :o",
        "order_items",
        "ix_order_items_order_id",
    ),
    Query(
        "sales_day",
        "SELECT * FROM orders WHERE created_at >= :a AND created_at < :b",
        "orders",
        "ix_orders_created_at",
    ),
    Query(
        "cart", "SELECT * FROM cart_items WHERE user_id = :c", "cart_items", "ix_cart_items_user_id"
    ),
    Query(
        "by_uuid", "SELECT * FROM orders WHERE uuid = :uuid", "orders", "uq_orders_uuid", "uuids"
    ),
    Query(
        "outbox",
        "SELECT * FROM outbox_events WHERE published_at IS NULL ORDER BY created_at LIMIT 100",
        "outbox_events",
        "ix_outbox_events_created_at",
        "outbox",
    ),
)


@dataclass
class Measured:
    plan: str = ""
    nodes: list[str] = field(default_factory=list)  # each node in plan order, described
    ms: float | None = None  # median execution time
    rows: int | None = None
    pages: int | None = None  # shared buffers hit + read (PostgreSQL)
    seq_scans: list[str] = field(default_factory=list)  # tables read whole
    indexes: list[str] = field(default_factory=list)
    skipped: str | None = None


@dataclass
class Run:
    database: str = ""
    dialect: str = ""
    busy_before: float | None = None  # share of the CPUs busy just before the run
    seeded: SeedReport | None = None
    extra_rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # seed, expand
    revisions: tuple[str, str] = ("", "")
    backfill: list[backfill.StepReport] = field(default_factory=list)
    batch_size: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    plans: dict[tuple[str, str], Measured] = field(default_factory=dict)  # (query, stage)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def local_url(raw: str) -> URL:
    """A PostgreSQL URL on 127.0.0.1 or an SQLite file; anything else is refused."""
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise BenchError(f"{raw}: an SQLite URL must name a file")
        return url
    if backend == "postgresql" and url.host == LOCAL_HOST:
        return url
    raise BenchError(f"{raw}: only PostgreSQL on {LOCAL_HOST} or an SQLite file")


@contextmanager
def database(args: argparse.Namespace) -> Iterator[URL]:
    """The given empty database, else a new `strangler_bench_*` one, dropped unless --keep."""
    if args.database_url:
        yield local_url(args.database_url)
        return
    server = local_url(args.server_url)
    name = f"strangler_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        connectable(admin)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name)
        finally:
            signal.alarm(0)  # the drop is not cut short by the deadline
            if args.keep:
                log(f"kept database {name}")
            else:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                log(f"dropped database {name}")
    finally:
        admin.dispose()


def require_empty(engine: Engine) -> None:
    tables = inspect(engine).get_table_names()
    if tables:
        raise BenchError(f"the database is not empty ({', '.join(sorted(tables))})")


def timed_seed(engine: Engine, sizes: SeedSizes) -> tuple[SeedReport, float]:
    started = time.perf_counter()
    report = seed(engine, sizes)
    return report, time.perf_counter() - started


def add_carts(engine: Engine, users: int, products: int) -> int:
    """Open carts for about half the users, 1 to 4 lines each (deterministic)."""
    rng = random.Random(7)
    rows = []
    for user_id in range(1, users + 1):
        if user_id > 1 and rng.random() >= CART_SHARE:  # user 1 always has one
            continue
        for product_id in rng.sample(range(1, products + 1), k=min(products, rng.randint(1, 4))):
            rows.append(
                {
                    "user_id": user_id,
                    "product_id": product_id,
                    "quantity": rng.randint(1, 3),
                    "added_at": ANCHOR - timedelta(minutes=rng.randrange(60 * 24 * 30)),
                }
            )
    with engine.begin() as conn:
        for start in range(0, len(rows), CHUNK):
            conn.execute(insert(db.cart_items), rows[start : start + CHUNK])
    return len(rows)


def outbox_table() -> Table:
    """The columns of `outbox_events` (0004) this benchmark writes."""
    return Table(
        "outbox_events",
        MetaData(),
        Column("id", Uuid(), primary_key=True),
        Column("topic", String(100)),
        Column("aggregate_id", String(64)),
        Column("payload", document()),
        Column("created_at", DateTime(timezone=True)),
        Column("published_at", DateTime(timezone=True)),
    )


def add_outbox_history(engine: Engine) -> int:
    """One `order.placed` event per order, all published but the newest UNPUBLISHED."""
    rng = random.Random(11)
    table = outbox_table()
    with engine.begin() as conn:
        orders = conn.execute(
            text("SELECT id, total_cents, created_at FROM orders ORDER BY created_at, id").columns(
                created_at=DateTime()
            )
        ).all()
        rows = []
        for position, (order_id, total, created) in enumerate(orders):
            at = created.replace(tzinfo=UTC)
            pending = position >= len(orders) - UNPUBLISHED
            rows.append(
                {
                    "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                    "topic": "order.placed",
                    "aggregate_id": str(order_id),
                    "payload": {"order_id": order_id, "total_cents": total},
                    "created_at": at,
                    "published_at": None if pending else at + timedelta(seconds=2),
                }
            )
        for start in range(0, len(rows), CHUNK):
            conn.execute(insert(table), rows[start : start + CHUNK])
    return len(rows)


def pick_params(engine: Engine) -> dict[str, Any]:
    """Real values: the middle order, its user, its day, and the user with the fullest cart."""
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
        order_id, user_id, created = conn.execute(
            text(
                "SELECT id, user_id, created_at FROM orders ORDER BY id LIMIT 1 OFFSET :n"
            ).columns(created_at=DateTime()),
            {"n": count // 2},
        ).one()
        cart_user = conn.execute(
            text(
                "SELECT user_id FROM cart_items GROUP BY user_id "
                "ORDER BY count(*) DESC, user_id LIMIT 1"
            )
        ).scalar_one()
    day = datetime(created.year, created.month, created.day)
    return {"u": user_id, "o": order_id, "a": day, "b": day + timedelta(days=1), "c": cart_user}


def order_uuid(engine: Engine, order_id: int) -> Any:
    """The order's UUID as the driver returns it (uuid.UUID on PostgreSQL, hex on SQLite)."""
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT uuid FROM orders WHERE id = :o"), {"o": order_id}
        ).scalar_one()


def statement(sql: str, prefix: str = "") -> TextClause:
    binds = [bindparam(name, type_=DateTime()) for name in ("a", "b") if f":{name}" in sql]
    return text(prefix + sql).bindparams(*binds)


def bound(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in params.items() if f":{name}" in sql}


def node_pg(node: dict[str, Any]) -> str:
    kind = str(node["Node Type"])
    if node.get("Parallel Aware"):
        kind = f"Parallel {kind}"
    if node.get("Scan Direction") == "Backward":
        kind = kind.replace("Index Scan", "Index Scan Backward")
    if "Index Name" in node:
        kind += f" using {node['Index Name']}"
    if "Relation Name" in node:
        kind += f" on {node['Relation Name']}"
    return kind


def describe_pg(node: dict[str, Any]) -> str:
    children = node.get("Plans", [])
    if len(children) == 1:
        return f"{node_pg(node)} > {describe_pg(children[0])}"
    if children:
        return f"{node_pg(node)} > ({'; '.join(describe_pg(child) for child in children)})"
    return node_pg(node)


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from walk(child)


def explain_postgres(conn: Connection, sql: str, params: dict[str, Any], repeat: int) -> Measured:
    query = statement(sql, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ")
    times, top = [], None
    for _ in range(repeat):
        raw = conn.execute(query, bound(sql, params)).scalar_one()
        result = (json.loads(raw) if isinstance(raw, str) else raw)[0]
        times.append(float(result["Execution Time"]))
        top = result["Plan"]
    assert top is not None
    nodes = list(walk(top))
    return Measured(
        plan=describe_pg(top),
        nodes=[node_pg(node) for node in nodes],
        ms=statistics.median(times),
        rows=int(top["Actual Rows"]),
        pages=int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0)),
        seq_scans=[n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"],
        indexes=[n["Index Name"] for n in nodes if "Index Name" in n],
    )


def explain_sqlite(conn: Connection, sql: str, params: dict[str, Any], repeat: int) -> Measured:
    """EXPLAIN QUERY PLAN for the plan; the time is running the query and fetching its rows."""
    values = bound(sql, params)
    details = [str(row[3]) for row in conn.execute(statement(sql, "EXPLAIN QUERY PLAN "), values)]
    times, rows = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = len(conn.execute(statement(sql), values).all())
        times.append((time.perf_counter() - started) * 1000)
    return Measured(
        plan=" > ".join(details),
        nodes=details,
        ms=statistics.median(times),
        rows=rows,
        seq_scans=[m[1] for d in details if (m := re.fullmatch(r"SCAN (\w+)", d))],
        indexes=re.findall(r"USING (?:COVERING )?INDEX (\w+)", " ".join(details)),
    )


def skip_reason(query: Query, stage: str) -> str | None:
    if query.needs == "uuids" and stage == "legacy":
        return "no uuid column yet"
    if query.needs == "uuids" and stage == "expand":
        return "uuids not backfilled yet"
    if query.needs == "outbox" and stage == "legacy":
        return "no outbox_events table yet"
    return None


def explain_all(engine: Engine, run: Run, stage: str, repeat: int) -> None:
    explain = explain_postgres if engine.dialect.name == "postgresql" else explain_sqlite
    print(f"\n-- plans: {stage} schema (median of {repeat} runs)")
    with engine.connect() as conn:
        for query in QUERIES:
            reason = skip_reason(query, stage)
            measured = (
                Measured(skipped=reason) if reason else explain(conn, query.sql, run.params, repeat)
            )
            run.plans[query.name, stage] = measured
            print(f"  {query.name:10} {figure(measured)}")
            if not reason:
                print(f"  {'':10} {measured.plan}")
        conn.rollback()


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def run_backfill(engine: Engine, batch_size: int) -> list[backfill.StepReport]:
    print(f"\n-- backfill (batch size {batch_size})")
    print(f"  {'step':22} {'scanned':>9} {'filled':>9} {'batches':>8} {'s':>7} {'rows/s':>9}")
    reports = []
    for plan in backfill.plan(engine):
        report = backfill.run_step(engine, plan, batch_size=batch_size)
        reports.append(report)
        print(backfill_line(report.step, report))
    print(backfill_line("total", *reports))
    return reports


def backfill_line(label: str, *reports: backfill.StepReport) -> str:
    scanned = sum(r.rows_scanned for r in reports)
    seconds = sum(r.seconds for r in reports)
    rate = scanned / seconds if seconds else 0.0
    return (
        f"  {label:22} {scanned:>9,} {sum(r.rows_filled for r in reports):>9,} "
        f"{sum(r.batches for r in reports):>8,} {seconds:>7.2f} {rate:>9,.0f}"
    )


def violations(run: Run) -> list[str]:
    """From expand on, each hot query reads its table through the index made for it."""
    found = []
    for stage in STAGES[1:]:
        for query in QUERIES:
            measured = run.plans.get((query.name, stage))
            if measured is None or measured.skipped:
                continue
            if query.table in measured.seq_scans or query.index not in measured.indexes:
                found.append(
                    f"{query.name} ({stage}): expected an index scan using {query.index} and "
                    f"no Seq Scan on {query.table}; the plan is: {measured.plan}"
                )
    return found


def figure(measured: Measured) -> str:
    if measured.skipped:
        return f"skipped: {measured.skipped}"
    pages = f", {measured.pages:,} pages" if measured.pages is not None else ""
    return f"{measured.ms:8.3f} ms, {measured.rows:,} rows{pages}"


def top_nodes(measured: Measured, limit: int = 3) -> str:
    """The plan's first nodes, without Limit, which only passes rows on."""
    if measured.skipped:
        return "-"
    return " > ".join([node for node in measured.nodes if node != "Limit"][:limit])


def summary(run: Run, args: argparse.Namespace) -> str:
    reports = run.backfill
    per_table = ", ".join(f"{r.step.split(':')[1]} {r.seconds:.2f}" for r in reports)
    extra = ", ".join(f"{name} {count:,}" for name, count in run.extra_rows.items())
    lines = [
        "",
        "== summary ==",
        f"database        {run.database}",
        f"machine         {machine(run)}",
        f"orders          {counts(run)}",
        f"bench rows      {extra} (the seeder makes no carts; {UNPUBLISHED} events unpublished)",
        f"seed            {run.seconds['seed']:.2f} s",
        f"expand          {run.seconds['expand']:.2f} s ({run.revisions[0]} -> {run.revisions[1]})",
        f"backfill        {sum(r.seconds for r in reports):.2f} s total, batch size "
        f"{run.batch_size}, {sum(r.rows_filled for r in reports):,} uuids",
        f"  per table     {per_table} (s)",
        f"parameters      {parameters(run.params)}",
        f"plans           median of {args.repeat} runs; ms is "
        + (
            "EXPLAIN ANALYZE's execution time"
            if run.dialect == "postgresql"
            else "running the query and fetching its rows"
        ),
    ]
    for query in QUERIES:
        for position, stage in enumerate(STAGES):
            measured = run.plans[query.name, stage]
            label = query.name if position == 0 else ""
            ms = "" if measured.skipped else f"{measured.ms:9.3f} ms"
            lines.append(f"  {label:10} {stage:10} {ms:12} {top_nodes(measured)}")
    return "\n".join(lines)


def machine(run: Run) -> str:
    busy = "unknown" if run.busy_before is None else f"{run.busy_before:.0%}"
    return f"{os.cpu_count()} cores, {busy} busy in the second before the run"


def counts(run: Run) -> str:
    seeded = run.seeded
    assert seeded is not None
    return (
        f"{seeded.orders:,} orders ({seeded.order_items:,} order_items, {seeded.users:,} users, "
        f"{seeded.products:,} products)"
    )


def parameters(params: dict[str, Any]) -> str:
    shown = {
        "user": params["u"],
        "order": params["o"],
        "day": params["a"].date().isoformat(),
        "cart user": params["c"],
    }
    if "uuid" in params:
        shown["uuid"] = params["uuid"]
    return ", ".join(f"{name} {value}" for name, value in shown.items())


def connectable(engine: Engine) -> None:
    try:
        engine.connect().close()
    except OperationalError as exc:
        raise BenchError(f"cannot connect to {engine.url}: {exc.orig}") from exc


def describe_database(engine: Engine, url: URL, args: argparse.Namespace) -> str:
    connectable(engine)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            version = conn.execute(text("SHOW server_version")).scalar_one().split()[0]
            fate = "given" if args.database_url else "created for the run"
            fate += ", kept" if args.keep or args.database_url else ", dropped at the end"
            return f"postgresql {version}, {url.database} ({fate})"
        version = conn.execute(text("SELECT sqlite_version()")).scalar_one()
        return f"sqlite {version}, {url.database}"


def measure(engine: Engine, url: URL, args: argparse.Namespace) -> Run:
    run = Run(dialect=engine.dialect.name, batch_size=args.batch_size, busy_before=busy_share())
    if run.busy_before is not None and run.busy_before > BUSY_WARNING:
        log(f"warning: the CPUs were {run.busy_before:.0%} busy before the run; timings are noisy")
    run.database = describe_database(engine, url, args)
    require_empty(engine)
    sizes = SeedSizes(users=args.users, products=args.products, orders=args.orders)
    log(f"seeding {sizes.orders:,} orders ...")
    run.seeded, run.seconds["seed"] = timed_seed(engine, sizes)
    run.extra_rows["cart_items"] = add_carts(engine, args.users, args.products)
    print(f"-- seed: {run.seconds['seed']:.2f} s, {counts(run)}")
    history.adopt(engine)
    analyze(engine)
    run.params = pick_params(engine)
    print(f"-- parameters: {parameters(run.params)}")
    explain_all(engine, run, "legacy", args.repeat)

    log("upgrading to expand ...")
    started = time.perf_counter()
    history.upgrade(engine, "expand")
    run.seconds["expand"] = time.perf_counter() - started
    run.revisions = (history.BASELINE, history.expand_head())
    print(f"\n-- expand: {run.seconds['expand']:.2f} s ({run.revisions[0]} -> {run.revisions[1]})")
    run.extra_rows["outbox_events"] = add_outbox_history(engine)
    analyze(engine)
    explain_all(engine, run, "expand", args.repeat)

    log("backfilling ...")
    run.backfill = run_backfill(engine, args.batch_size)
    analyze(engine)
    run.params["uuid"] = order_uuid(engine, run.params["o"])
    explain_all(engine, run, "backfilled", args.repeat)
    return run


def bench(args: argparse.Namespace) -> int:
    with database(args) as url:
        engine = make_engine(url.render_as_string(hide_password=False))
        try:
            run = measure(engine, url, args)
        finally:
            engine.dispose()
    print(summary(run, args))
    failed = violations(run)
    if failed:
        print("\nFAILED: after expand, not every hot query uses its index:", file=sys.stderr)
        for line in failed:
            print(f"  - {line}", file=sys.stderr)
        return 1
    print("\ncheck: from expand on, every hot query uses its index, no Seq Scan on its table")
    return 0


def options(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="an existing empty database (PostgreSQL on 127.0.0.1, or sqlite:///path); "
        "default: a new strangler_bench_* database on --server-url",
    )
    parser.add_argument("--server-url", default=SERVER_URL, metavar="URL", help="%(default)s")
    parser.add_argument("--keep", action="store_true", help="do not drop the database made")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=1_000, help="backfill batch size")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each query (median)")
    parser.add_argument("--quick", action="store_true", help="10,000 orders: a smoke run")
    parser.add_argument(
        "--timeout", type=int, default=600, help="give up after this many seconds (exit 2)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.orders = 10_000
    for name in ("orders", "users", "products", "batch_size", "repeat", "timeout"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main() -> int:
    args = options()

    def out_of_time(_signum: int, _frame: object) -> None:
        raise OutOfTime(f"still running after {args.timeout} s (--timeout)")

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the database's clean-up

    signal.signal(signal.SIGALRM, out_of_time)
    signal.signal(signal.SIGTERM, stop)
    signal.alarm(args.timeout)
    started = time.monotonic()
    try:
        code = bench(args)
    except BenchError as exc:
        print(f"schema_explain: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("schema_explain: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
    print(f"(total {time.monotonic() - started:.1f} s)")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
