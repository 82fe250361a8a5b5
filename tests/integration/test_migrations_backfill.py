"""The backfill fills every old row once, survives being killed, and runs beside a legacy
app that keeps taking orders, on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
from sqlalchemy import select, text

from migrations import backfill, history
from migrations.backfill import progress_table
from migrations.fingerprint import uuid_coverage
from strangler.runner import Stack
from tests.conftest import stack_settings
from tests.integration.migrating import engine_at, prints, run_backfill, seeded

STRANGLER = str(Path(sys.executable).with_name("strangler"))


def expanded(url: str, orders: int) -> None:
    seeded(url, orders=orders)
    with engine_at(url) as engine:
        history.adopt(engine)
        history.upgrade(engine, "expand")


def uuids(url: str, table: str) -> dict[int, str]:
    with engine_at(url) as engine, engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, uuid FROM {table} WHERE uuid IS NOT NULL"))  # noqa: S608
        return {row.id: str(row.uuid) for row in rows}


def checkpoint(url: str, step: str) -> tuple[int, bool] | None:
    with engine_at(url) as engine, engine.connect() as conn:
        row = conn.execute(
            select(progress_table.c.last_id, progress_table.c.finished_at).where(
                progress_table.c.step == step
            )
        ).first()
    return (row.last_id, row.finished_at is not None) if row else None


def filled_counts(url: str) -> dict[str, int]:
    with engine_at(url) as engine, engine.connect() as conn:
        rows = conn.execute(select(progress_table.c.step, progress_table.c.rows_filled))
        return {row.step: row.rows_filled for row in rows}


def test_a_backfill_killed_halfway_resumes_where_it_stopped_and_ends_like_one_run_through(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    killed, straight = new_database(), new_database()
    for url in (killed, straight):
        expanded(url, orders=600)
    env = {**os.environ, "DATABASE_URL": killed, "STRANGLER_HOME": str(tmp_path / "home")}
    # 50 ms between batches: from the checkpoint the poll waits for (200) to 1,000 rows is
    # 32 batches, 1.6 s for the kill to land; at 5 ms a busy machine (CI's four test
    # processes on two cores) once let the backfill reach 1,025 first
    process = subprocess.Popen(
        [STRANGLER, "migrate", "backfill", "--batch-size", "25", "--pause-ms", "50", "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill it in the middle of the order lines
            state = checkpoint(killed, "uuid:order_items")
            if state and state[0] >= 200:
                break
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    last_id, finished = checkpoint(killed, "uuid:order_items") or (0, True)
    assert last_id >= 200 and not finished, "the backfill was not caught half-way"
    filled_before_the_kill = uuids(killed, "order_items")
    assert 200 <= len(filled_before_the_kill) < 1000

    resumed = subprocess.run(
        [STRANGLER, "migrate", "backfill", "--batch-size", "25", "--pause-ms", "5", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "uuid:order_items   resumed after id" in resumed.stdout
    run_backfill(straight, batch_size=25)

    after = uuids(killed, "order_items")
    assert {k: after[k] for k in filled_before_the_kill} == filled_before_the_kill  # kept
    # each batch and its checkpoint commit together: had the kill split them, the
    # resumed run would find rows already filled and the counts would fall short
    assert filled_counts(killed) == filled_counts(straight)
    assert prints(killed) == prints(straight)  # and no business column was touched
    for url in (killed, straight):
        with engine_at(url) as engine, engine.connect() as conn:
            coverage = uuid_coverage(conn)
        assert all(c["rows"] == c["with_uuid"] == c["distinct"] for c in coverage.values())


def test_running_the_backfill_again_changes_nothing(fresh_database_url: str) -> None:
    expanded(fresh_database_url, orders=150)
    first = run_backfill(fresh_database_url)
    assert sum(r.rows_filled for r in first) > 150
    minted = {t: uuids(fresh_database_url, t) for t in ("orders", "order_items", "users")}
    again = run_backfill(fresh_database_url)
    assert [r.rows_filled for r in again] == [0] * len(again)
    assert {t: uuids(fresh_database_url, t) for t in minted} == minted


def test_expand_and_backfill_lose_no_order_the_legacy_app_takes_meanwhile(
    fresh_database_url: str, tmp_path: Path
) -> None:
    expanded_later = fresh_database_url
    seeded(expanded_later, orders=1500)
    settings = replace(stack_settings(tmp_path), database_url=expanded_later)
    stack = Stack(settings)
    stack.up()
    placed: list[tuple[float, int]] = []
    failures: list[str] = []
    stop = threading.Event()

    def shop_keeps_selling() -> None:
        with httpx.Client(base_url=settings.url("legacy"), timeout=30) as shop:
            product = shop.post(
                "/products",
                json={
                    "sku": f"MIG-{uuid.uuid4().hex[:8]}",
                    "name": "Mug",
                    "price_cents": 900,
                    "stock": 1_000_000,
                },
            ).json()
            user = shop.post(
                "/users", json={"email": f"{uuid.uuid4().hex[:8]}@example.com", "name": "W"}
            ).json()
            while not stop.is_set():
                shop.post(
                    f"/users/{user['id']}/cart/items",
                    json={"product_id": product["id"], "quantity": 1},
                )
                answer = shop.post(f"/users/{user['id']}/checkout", json={"card_token": "tok_visa"})
                if answer.status_code != 201:
                    failures.append(f"{answer.status_code} {answer.text}")
                else:
                    placed.append((time.monotonic(), answer.json()["id"]))

    writer = threading.Thread(target=shop_keeps_selling)
    try:
        writer.start()
        while len(placed) < 3 and writer.is_alive():
            time.sleep(0.05)
        migration_started = time.monotonic()
        with engine_at(expanded_later) as engine:
            history.adopt(engine)
            history.upgrade(engine, "expand")
            reports = [
                backfill.run_step(engine, plan, batch_size=100, pause_s=0.01)
                for plan in backfill.plan(engine)
            ]
        migration_ended = time.monotonic()
        while len(placed) < 10 + sum(1 for t, _ in placed if t < migration_ended):
            time.sleep(0.05)
    finally:
        stop.set()
        writer.join(timeout=60)
        stack.down()
    assert failures == []
    during = [order for at, order in placed if migration_started <= at <= migration_ended]
    assert len(during) >= 3, f"only {len(during)} orders were placed during the migration"
    assert sum(r.rows_filled for r in reports) > 1500
    with engine_at(expanded_later) as engine, engine.connect() as conn:
        stored = {row.id: row.uuid for row in conn.execute(text("SELECT id, uuid FROM orders"))}
        coverage = uuid_coverage(conn)
    assert all(stored.get(order) is not None for _, order in placed)  # every write, with a uuid
    assert coverage["orders"]["rows"] == 1500 + len(placed)
    assert all(c["rows"] == c["with_uuid"] == c["distinct"] for c in coverage.values())
