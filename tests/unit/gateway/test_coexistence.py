"""The guard on moving a route whose read model legacy's writes reach only through capture."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.coexistence import check
from gateway.routes import RouteTable
from new_services.outbox_relay.lag import Lag, parse

UPSTREAMS = {"legacy": "http://l.test", "orders": "http://o.test", "analytics": "http://a.test"}


def table(checkout: str = "legacy", orders: str = "legacy", reports: str = "legacy") -> RouteTable:
    routes: list[dict[str, Any]] = [
        {
            "name": "checkout",
            "match": "/checkout",
            "extracted": "orders",
            "mode": checkout,
            "writes": ["orders"],
        },
        {
            "name": "orders",
            "match": "/orders/**",
            "extracted": "orders",
            "mode": orders,
            "writes": ["orders"],
        },
        {
            "name": "reports",
            "match": "/reports/**",
            "extracted": "analytics",
            "mode": reports,
            "reads": ["orders"],
            "read_model": "analytics",
        },
        {"name": "products", "match": "/products", "extracted": "orders"},
    ]
    return RouteTable.from_dict({"upstreams": UPSTREAMS, "routes": routes})


FRESH = {"analytics": Lag(0.4, 0)}


def moved(live: RouteTable, lags: dict[str, Lag] | None, **settings: Any) -> str | None:
    blocked = check(table(), live, "reports", settings or {"mode": "extracted"}, lags, 5.0)
    return None if blocked is None else blocked.message(5.0)


@pytest.mark.parametrize(
    ("lags", "state"),
    [
        (None, "the outbox relay is not running"),
        ({"analytics": Lag(12.5, 0)}, "behind by 12.5 s"),
        ({"analytics": Lag(0.1, 3)}, "3 of its jobs are parked"),
        ({"catalog": Lag(0.1, 0)}, "no consumer named analytics"),
    ],
)
def test_moving_a_report_while_legacy_takes_orders_and_capture_is_off_or_behind_is_refused(
    lags: dict[str, Lag] | None, state: str
) -> None:
    said = moved(table(), lags)
    assert said is not None and state in said
    assert "checkout, orders still send writes of it to legacy" in said
    assert "strangler routes set checkout --mode extracted" in said and "--force" in said


def test_a_canary_of_the_report_is_refused_too_but_not_a_smaller_one() -> None:
    assert moved(table(), None, mode="canary", weight=10) is not None
    assert moved(table(reports="canary"), None, weight=5) is not None  # 0 -> 5 %
    live = RouteTable.from_dict(
        {
            **table(reports="canary").to_dict(),
            "routes": [
                {**r.to_dict(), "weight": 50} if r.name == "reports" else r.to_dict()
                for r in table(reports="canary").routes
            ],
        }
    )
    assert moved(live, None, weight=20) is None  # fewer requests to the read model
    assert moved(table(), None, mode="shadow") is None  # still answered by legacy
    assert moved(table(), None, timeout_s=3) is None


def test_the_move_is_allowed_while_capture_keeps_up_or_once_no_writer_is_left_on_legacy() -> None:
    assert moved(table(), FRESH) is None
    assert moved(table(checkout="extracted", orders="extracted"), None) is None
    still = moved(table(checkout="extracted", orders="canary"), None)
    assert still is not None and "orders still send" in still and "checkout," not in still


def test_a_route_that_declares_no_read_model_is_never_guarded() -> None:
    assert check(table(), table(), "products", {"mode": "extracted"}, None, 5.0) is None


def test_lag_figures_older_than_their_freshness_are_no_figures() -> None:
    raw = {b"at": b"1000.0", b"analytics": b"0.5", b"analytics:failed": b"0"}
    assert parse(raw, now=1001.0) == {"analytics": Lag(0.5, 0)}
    assert parse(raw, now=1100.0) is None
    assert parse({}, now=1001.0) is None
