"""The contract step's route check: only a route in extracted mode without fallback passes,
and each refusal says what to change."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.routes import RouteTable
from migrations.preconditions import PreconditionFailed, require, retired_from_legacy

REQUESTS = [("POST", "/users/7/checkout"), ("GET", "/orders/3")]
WHY = "legacy writes orders.email_sent"


def table(**route: Any) -> RouteTable:
    return RouteTable.from_dict(
        {
            "upstreams": {"legacy": "http://127.0.0.1:9", "orders": "http://127.0.0.1:10"},
            "routes": [
                {
                    "name": "orders",
                    "match": ["/users/{id}/checkout", "/orders/**"],
                    "extracted": "orders",
                    **route,
                }
            ],
        }
    )


def test_a_route_in_extracted_mode_without_fallback_passes() -> None:
    assert retired_from_legacy(lambda: table(mode="extracted", fallback=False), REQUESTS, WHY) == []


@pytest.mark.parametrize("mode", ["legacy", "shadow", "canary"])
def test_a_route_that_still_sends_requests_to_legacy_is_named_with_the_command_to_fix_it(
    mode: str,
) -> None:
    reasons = retired_from_legacy(lambda: table(mode=mode, weight=50), REQUESTS, WHY)
    assert len(reasons) == 2
    assert reasons[0].startswith(f"POST /users/7/checkout goes to route 'orders' in {mode} mode")
    assert WHY in reasons[0]
    assert "strangler routes set orders --mode extracted --no-fallback" in reasons[0]


def test_fallback_to_legacy_is_refused_even_in_extracted_mode() -> None:
    reasons = retired_from_legacy(lambda: table(mode="extracted"), REQUESTS, WHY)
    assert len(reasons) == 2 and all("still falls back to legacy" in r for r in reasons)


def test_a_request_no_route_matches_goes_to_the_catch_all_and_is_refused() -> None:
    reasons = retired_from_legacy(
        lambda: table(mode="extracted", fallback=False), [("GET", "/reports/sales")], WHY
    )
    assert reasons == [
        f"GET /reports/sales matches no route, so the catch-all sends it to legacy ({WHY}); "
        "give it a route to the extracted service in the routes file first"
    ]


def test_a_table_that_cannot_be_read_is_a_failed_precondition_not_a_pass() -> None:
    def unreachable() -> RouteTable:
        raise ConnectionError("Redis at 127.0.0.1:6390 refused")

    (reason,) = retired_from_legacy(unreachable, REQUESTS, WHY)
    assert "cannot read the gateway's route table" in reason and "6390" in reason


def test_require_lists_every_failure_under_the_step_name() -> None:
    with pytest.raises(PreconditionFailed) as failed:
        require("0006_contract_orders", ["first reason", "second reason"])
    assert failed.value.reasons == ("first reason", "second reason")
    assert str(failed.value) == (
        "0006_contract_orders refuses to run:\n  - first reason\n  - second reason"
    )
    require("0006_contract_orders", [])  # nothing failed: no exception
