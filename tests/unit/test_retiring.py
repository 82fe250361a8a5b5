"""The checks `strangler retire legacy` prints: what each reads and when it refuses."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.routes import RouteTable
from migrations.history import Step
from new_services.outbox_relay.lag import Lag
from strangler import retiring

ROUTES_FILE = Path(__file__).parents[2] / "gateway" / "routes.toml"


def shipped(**every_route: Any) -> RouteTable:
    raw = tomllib.loads(ROUTES_FILE.read_text())
    raw["routes"] = [{**route, **every_route} for route in raw["routes"]]
    return RouteTable.from_dict(raw)


def test_the_endpoints_checked_are_every_endpoint_of_the_legacy_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'shop.db'}")
    from legacy_app.app import create_app

    served = {
        (method, re.sub(r"<[^>]+>", "1", rule.rule))
        for rule in create_app().url_map.iter_rules()
        if rule.rule not in ("/healthz", "/static/<path:filename>")
        for method in rule.methods or ()
        if method != "OPTIONS"
    }
    assert served == set(retiring.LEGACY_REQUESTS)


def test_the_routes_check_names_each_route_that_can_still_send_to_legacy() -> None:
    refused = retiring.routes(shipped(mode="extracted"))  # fallback on
    assert not refused.ok and refused.figure.startswith("5 of 9 routes can send to legacy")
    assert "route 'users' falls back to it on errors" in refused.figure
    passed = retiring.routes(shipped(mode="extracted", fallback=False))
    assert passed.ok and passed.figure == "0 of 9 routes can send to legacy"


def test_the_default_route_check_names_legacy_endpoints_no_route_serves() -> None:
    assert retiring.default_route(shipped()).ok
    raw = tomllib.loads(ROUTES_FILE.read_text())
    raw["routes"] = [r for r in raw["routes"] if r["name"] not in ("reports", "reports-v2")]
    refused = retiring.default_route(RouteTable.from_dict(raw))
    assert not refused.ok
    assert refused.figure.startswith("2 of 22 legacy endpoints fall to the default route")
    assert "GET /reports/sales, HEAD /reports/sales" in refused.figure


def test_legacy_is_quiet_only_with_no_request_and_no_captured_write_in_the_window() -> None:
    assert retiring.quiet({"users": 0}, None, 10).ok
    assert retiring.quiet({"users": 0}, 11 * 60, 10).ok
    busy = retiring.quiet({"users": 3, "orders": 0}, None, 10)
    assert not busy.ok and "legacy answered 3 requests in the last 10 min (users 3)" in busy.figure
    written = retiring.quiet({"users": 0}, 120, 10)
    assert not written.ok and "newest captured legacy write 2.0 min ago" in written.figure


def test_capture_has_drained_only_with_fresh_figures_within_bound_and_nothing_parked() -> None:
    assert retiring.drained({"analytics": Lag(0.4, 0)}, 5).ok
    assert not retiring.drained({"analytics": Lag(9.0, 0)}, 5).ok
    parked = retiring.drained({"analytics": Lag(0.0, 2)}, 5)
    assert not parked.ok and "analytics 0.0 s (2 parked)" in parked.figure
    assert "relay is not running" in retiring.drained(None, 5).figure


def test_legacy_can_come_back_only_before_a_contract_step_and_the_refusal_says_why() -> None:
    assert retiring.schema_serves_legacy([], "0005g_product_generation").ok
    step = Step("0006_contract_orders", "Contract (orders)", "orders.email_sent (...)")
    refused = retiring.schema_serves_legacy([step], "0005g_product_generation")
    assert not refused.ok
    assert "0006_contract_orders removed orders.email_sent" in refused.figure
    assert "strangler migrate downgrade 0005g_product_generation" in refused.figure
