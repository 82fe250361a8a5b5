"""The contract step refuses, names every failed precondition and changes nothing, until
the backfill is done, the data is clean and the gateway no longer sends orders to legacy."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect

from gateway.routes import RouteTable
from migrations import history
from migrations.preconditions import PreconditionFailed, live_route_table
from tests.integration.migrating import (
    engine_at,
    routes_table,
    run_backfill,
    seeded,
    store_routes,
)

EXPAND = "0005g_product_generation"  # the expand head
STRANGLER = str(Path(sys.executable).with_name("strangler"))


def expanded(url: str, backfilled: bool = True) -> None:
    seeded(url, orders=120)
    with engine_at(url) as engine:
        history.adopt(engine)
        history.upgrade(engine, "expand")
    if backfilled:
        run_backfill(url)


def refusal(url: str, table: RouteTable) -> PreconditionFailed:
    with engine_at(url) as engine:
        with pytest.raises(PreconditionFailed) as refused:
            history.upgrade(engine, "head", routes=lambda: table)
        with engine.connect() as conn:
            assert history.current(conn) == EXPAND  # nothing of the step ran
            assert "email_sent" in {c["name"] for c in inspect(conn).get_columns("orders")}
    return refused.value


def test_contract_refuses_before_the_backfill_has_filled_every_uuid(
    fresh_database_url: str,
) -> None:
    expanded(fresh_database_url, backfilled=False)
    reasons = refusal(fresh_database_url, routes_table()).reasons
    assert any("120 row(s) of orders have no uuid yet" in r for r in reasons), reasons
    assert any("of order_items have no uuid yet" in r for r in reasons), reasons
    assert all("strangler migrate backfill" in r for r in reasons)


def test_contract_refuses_order_lines_that_point_at_no_order(fresh_database_url: str) -> None:
    expanded(fresh_database_url)
    with engine_at(fresh_database_url) as engine, engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO order_items (order_id, product_id, product_name, unit_price_cents, "
            "quantity) VALUES (999999, 1, 'ghost', 100, 1)"
        )
    (reason,) = refusal(fresh_database_url, routes_table()).reasons
    assert "1 row(s) of order_items point at a missing orders row" in reason


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (routes_table(mode="canary"), "goes to route 'orders' in canary mode"),
        (routes_table(mode="extracted", fallback=True), "still falls back to legacy"),
        (
            RouteTable.from_dict({"upstreams": {"legacy": "http://127.0.0.1:9"}}),
            "matches no route, so the catch-all sends it to legacy",
        ),
    ],
)
def test_contract_refuses_while_the_gateway_can_still_send_orders_to_legacy(
    fresh_database_url: str, redis_url: str, table: RouteTable, expected: str
) -> None:
    expanded(fresh_database_url)
    namespace = f"test-{uuid.uuid4().hex[:12]}:gateway"
    store_routes(redis_url, namespace, table)
    live = live_route_table(redis_url, namespace)
    reasons = refusal(fresh_database_url, live).reasons
    assert len(reasons) == 8  # checkout, history, an order, cancel, report; HEAD of the GETs
    assert all(expected in r for r in reasons), reasons
    assert any(r.startswith("POST /users/1/checkout") for r in reasons)


def test_the_cli_checks_the_live_route_table_and_asks_before_dropping_data(
    fresh_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    expanded(fresh_database_url)
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STRANGLER_")},
        "DATABASE_URL": fresh_database_url,
        "REDIS_URL": redis_url,
        "STRANGLER_NAMESPACE": namespace,
        "STRANGLER_HOME": str(tmp_path / "home"),
    }

    def strangler(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [STRANGLER, "migrate", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    store_routes(redis_url, f"{namespace}:gateway", routes_table(mode="legacy"))
    checked = strangler("check")
    assert checked.returncode == 1
    assert "0006_contract_orders would refuse to run" in checked.stdout
    assert "in legacy mode" in checked.stdout

    refused = strangler("upgrade")
    assert refused.returncode == 1, refused.stdout
    assert "in legacy mode" in refused.stderr

    namespace2 = f"test-{uuid.uuid4().hex[:12]}"
    env["STRANGLER_NAMESPACE"] = namespace2
    store_routes(redis_url, f"{namespace2}:gateway", routes_table())
    assert strangler("check").returncode == 0
    unconfirmed = strangler("upgrade")
    assert unconfirmed.returncode == 2
    assert "orders.email_sent" in unconfirmed.stdout and "--yes" in unconfirmed.stderr

    done = strangler("upgrade", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"the database is at {history.head()}" in done.stdout
