"""Fill, in small committed batches, what the expand step could not fill in DDL.

Today that is the UUID of every row that existed before `0002_expand_uuids` (rows
inserted since get theirs from the database). Each table is one step; each batch
fills the rows whose id lies in the next `batch_size` ids and records the last id in
`backfill_progress` in the same transaction, so a run killed at any moment continues
where it stopped and never fills a row twice. It only ever writes NULL UUIDs, so
running it again after it finished changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError

from migrations.ops import LOCK_ATTEMPTS, LOCK_NOT_AVAILABLE
from migrations.uuid_sql import uuid4_sql

# The checkpoint table, as `0002_expand_uuids` created it.
progress_table = Table(
    "backfill_progress",
    MetaData(),
    Column("step", String(100), primary_key=True),
    Column("last_id", Integer, nullable=False),
    Column("rows_filled", Integer, nullable=False),
    Column("batches", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)

Progress = Callable[[str, int], None]  # (step, rows scanned since the last call)


@dataclass(frozen=True)
class StepPlan:
    step: str
    table: str
    resume_after_id: int  # 0 for a fresh start
    rows_left: int  # rows with a larger id: what this run will scan
    finished: bool  # a run went through to the end once
    missing: int  # rows without a uuid right now

    @property
    def done(self) -> bool:
        return self.finished and not self.missing


@dataclass(frozen=True)
class StepReport:
    step: str
    resumed_after_id: int
    rows_scanned: int
    rows_filled: int
    batches: int
    seconds: float


def tables_with_uuids(conn: Connection) -> list[str]:
    """Tables with an integer `id` and a `uuid` column: the ones the services will own."""
    inspector = inspect(conn)
    found = []
    for table in sorted(inspector.get_table_names()):
        columns = {c["name"] for c in inspector.get_columns(table)}
        if {"id", "uuid"} <= columns:
            found.append(table)
    return found


def _now() -> datetime:
    return datetime.now(UTC)


def plan(engine: Engine) -> list[StepPlan]:
    with engine.connect() as conn:
        if "backfill_progress" not in inspect(conn).get_table_names():
            raise LookupError(
                "no backfill_progress table: upgrade to 0002_expand_uuids first "
                "(`strangler migrate upgrade`)"
            )
        plans = []
        for table in tables_with_uuids(conn):
            step = f"uuid:{table}"
            row = conn.execute(
                select(progress_table.c.last_id, progress_table.c.finished_at).where(
                    progress_table.c.step == step
                )
            ).first()
            last_id = row.last_id if row else 0
            left, missing = conn.execute(
                text(
                    f"SELECT count(*) FILTER (WHERE id > :last), "  # noqa: S608
                    f"count(*) FILTER (WHERE uuid IS NULL) FROM {table}"
                ),
                {"last": last_id},
            ).one()
            finished = bool(row and row.finished_at)
            plans.append(StepPlan(step, table, last_id, left, finished, missing))
        return plans


def run_step(
    engine: Engine,
    step: StepPlan,
    batch_size: int = 1000,
    pause_s: float = 0.0,
    progress: Progress = lambda _step, _n: None,
) -> StepReport:
    started = time.perf_counter()
    if step.done:  # rows inserted since have their uuid from the database already
        return StepReport(step.step, step.resume_after_id, 0, 0, 0, 0.0)
    expression = uuid4_sql(engine.dialect.name)
    table = step.table
    next_ids = text(
        f"SELECT id FROM {table} WHERE id > :last ORDER BY id LIMIT :n"  # noqa: S608
    )
    fill = text(
        f"UPDATE {table} SET uuid = {expression} "  # noqa: S608
        "WHERE id > :last AND id <= :high AND uuid IS NULL"
    )
    checkpoint = progress_table.c
    with engine.begin() as conn:
        if (
            conn.execute(select(checkpoint.step).where(checkpoint.step == step.step)).first()
            is None
        ):
            conn.execute(
                insert(progress_table).values(
                    step=step.step,
                    last_id=0,
                    rows_filled=0,
                    batches=0,
                    started_at=_now(),
                    updated_at=_now(),
                )
            )
    last, scanned, filled, batches = step.resume_after_id, 0, 0, 0
    while True:
        ids, count = _batch(engine, step.step, next_ids, fill, last, batch_size)
        if not ids:
            break
        last, scanned, filled, batches = ids[-1], scanned + len(ids), filled + count, batches + 1
        progress(step.step, len(ids))
        if pause_s:
            time.sleep(pause_s)
    filled += _sweep(engine, table, expression, batch_size)
    with engine.begin() as conn:
        conn.execute(
            update(progress_table).where(checkpoint.step == step.step).values(finished_at=_now())
        )
    if engine.dialect.name == "postgresql" and filled:
        _vacuum(engine, table)
    return StepReport(
        step.step, step.resume_after_id, scanned, filled, batches, time.perf_counter() - started
    )


def _batch(
    engine: Engine, step: str, next_ids: Any, fill: Any, last: int, size: int
) -> tuple[Sequence[int], int]:
    """One batch and its checkpoint, in one transaction: both happen or neither does.
    A batch that waits too long for a row lock (PostgreSQL) is retried after a pause."""
    checkpoint = progress_table.c
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                ids = conn.execute(next_ids, {"last": last, "n": size}).scalars().all()
                if not ids:
                    return ids, 0
                count = conn.execute(fill, {"last": last, "high": ids[-1]}).rowcount
                conn.execute(
                    update(progress_table)
                    .where(checkpoint.step == step)
                    .values(
                        last_id=ids[-1],
                        rows_filled=checkpoint.rows_filled + count,
                        batches=checkpoint.batches + 1,
                        updated_at=_now(),
                    )
                )
                return ids, count
        except OperationalError as exc:
            if (
                getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE
                or attempt == LOCK_ATTEMPTS
            ):
                raise
            time.sleep(attempt)
    raise AssertionError("unreachable")


def _sweep(engine: Engine, table: str, expression: str, batch_size: int) -> int:
    """Fill stragglers behind the checkpoint: rows written with an explicit NULL uuid
    (nothing the legacy app does, but a hand-run INSERT could). Uses no index, so it runs
    once per step, after the batches."""
    filled = 0
    while True:
        with engine.begin() as conn:
            count = conn.execute(
                text(
                    f"UPDATE {table} SET uuid = {expression} WHERE id IN "  # noqa: S608
                    f"(SELECT id FROM {table} WHERE uuid IS NULL ORDER BY id LIMIT :n)"
                ),
                {"n": batch_size},
            ).rowcount
        filled += count
        if count < batch_size:
            return filled


def _vacuum(engine: Engine, table: str) -> None:
    """Every filled row left a dead version behind, still referenced by the indexes (an
    indexed column changed, so no HOT update): until VACUUM runs, range scans read about
    twice the pages (benchmarks/schema_explain.py). VACUUM does not block writes."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
