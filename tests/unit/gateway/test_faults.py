"""A route's fault: what it accepts (and why not), when it is active, which requests draw it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.faults import MAX_FOR_S, Fault, FaultError, ending
from gateway.routes import RouteTable, RouteTableError

NOON = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
UNTIL = "2026-12-06T12:04:05Z"
UPSTREAMS = {"legacy": "http://127.0.0.1:1", "orders": "http://127.0.0.1:2"}


def route_with(fault: Any) -> dict[str, Any]:
    return {"name": "orders", "match": "/orders/**", "extracted": "orders", "fault": fault}


def test_a_fault_round_trips_through_the_stored_route_table() -> None:
    stored = {"percent": 50, "delay_ms": 200, "abort_status": 503, "until": UNTIL}
    table = RouteTable.from_dict({"upstreams": UPSTREAMS, "routes": [route_with(stored)]})
    route = table.routes[0]
    assert route.fault == Fault(
        percent=50,
        until=datetime(2026, 12, 6, 12, 4, 5, tzinfo=UTC),
        delay_ms=200,
        abort_status=503,
    )
    assert route.to_dict()["fault"] == {**stored, "percent": 50.0}
    again = RouteTable.from_dict(table.to_stored(), upstreams=UPSTREAMS)
    assert again.routes[0].fault == route.fault
    assert route.fault.kinds == ("delay", "abort")


def test_a_route_without_a_fault_has_none_and_null_clears_one() -> None:
    table = RouteTable.from_dict(
        {"upstreams": UPSTREAMS, "routes": [{"name": "a", "match": "/a"}, route_with(None)]}
    )
    assert [r.fault for r in table.routes] == [None, None]
    assert table.routes[0].to_dict()["fault"] is None


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("abort", "fault must be a table"),
        ({"percent": 0, "abort_status": 503, "until": UNTIL}, "percent must be a number above 0"),
        ({"percent": 100.5, "abort_status": 503, "until": UNTIL}, "at most 100, not 100.5"),
        ({"percent": True, "abort_status": 503, "until": UNTIL}, "percent must be a number"),
        ({"percent": "50", "abort_status": 503, "until": UNTIL}, "percent must be a number"),
        ({"percent": 50, "until": UNTIL}, "needs delay_ms, abort_status or both"),
        ({"percent": 50, "delay_ms": -1, "until": UNTIL}, "delay_ms must be an integer from 0"),
        ({"percent": 50, "delay_ms": 60_001, "until": UNTIL}, "from 0 to 60000, not 60001"),
        ({"percent": 50, "delay_ms": 1.5, "until": UNTIL}, "delay_ms must be an integer"),
        ({"percent": 50, "abort_status": 399, "until": UNTIL}, "from 400 to 599, not 399"),
        ({"percent": 50, "abort_status": 600, "until": UNTIL}, "from 400 to 599, not 600"),
        ({"percent": 50, "abort_status": "503", "until": UNTIL}, "abort_status must be"),
        ({"percent": 50, "abort_status": 503}, "until must be an RFC 3339 UTC time"),
        ({"percent": 50, "abort_status": 503, "until": "12:04"}, "RFC 3339 UTC time"),
        ({"percent": 50, "abort_status": 503, "until": "tomorrow"}, "RFC 3339 UTC time"),
        ({"percent": 50, "abort_status": 503, "until": "2026-12-06 12:04:05Z"}, "RFC 3339 UTC"),
        ({"percent": 50, "abort_status": 503, "until": "2026-12-06"}, "RFC 3339 UTC time"),
        ({"percent": 50, "abort_status": 503, "until": "2026-13-01T00:00:00Z"}, "not an RFC"),
        ({"percent": 50, "abort_status": 503, "until": "2026-12-06T12:04:05"}, "in UTC"),
        ({"percent": 50, "abort_status": 503, "until": "2026-12-06T14:04:05+02:00"}, "in UTC"),
        ({"percent": 50, "abort_status": 503, "until": UNTIL, "kind": "x"}, "unknown setting"),
    ],
)
def test_a_bad_fault_is_refused_naming_the_route_and_what_is_wrong(
    fault: Any, message: str
) -> None:
    with pytest.raises(RouteTableError, match=message) as refused:
        RouteTable.from_dict({"upstreams": UPSTREAMS, "routes": [route_with(fault)]})
    assert str(refused.value).startswith("route 'orders': ")


def test_a_fault_is_active_until_its_time_and_inert_from_then_on() -> None:
    fault = Fault.parse({"percent": 100, "abort_status": 503, "until": "2026-12-06T12:00:00Z"})
    assert fault.active(NOON - timedelta(microseconds=1))
    assert not fault.active(NOON)
    assert not fault.active(NOON + timedelta(days=1))


def test_an_expired_fault_still_loads_so_the_table_that_holds_it_keeps_being_served() -> None:
    long_ago = {"percent": 100, "abort_status": 503, "until": "2001-01-01T00:00:00Z"}
    table = RouteTable.from_dict({"upstreams": UPSTREAMS, "routes": [route_with(long_ago)]})
    fault = table.routes[0].fault
    assert fault is not None and not fault.active(NOON)


def test_percent_of_the_draws_are_drawn() -> None:
    half = Fault.parse({"percent": 50, "abort_status": 503, "until": UNTIL})
    assert half.draws(lambda: 0.4999)
    assert not half.draws(lambda: 0.5)
    every = Fault.parse({"percent": 100, "delay_ms": 10, "until": UNTIL})
    assert every.draws(lambda: 0.999999)
    seeded = random.Random(18)
    quarter = Fault.parse({"percent": 25, "abort_status": 503, "until": UNTIL})
    drawn = sum(quarter.draws(seeded.random) for _ in range(10_000))
    assert 2_300 < drawn < 2_700


def test_a_fault_set_for_a_while_ends_that_long_from_now() -> None:
    assert ending(NOON, 245) == UNTIL
    assert ending(NOON, 1.5) == "2026-12-06T12:00:01.500000Z"
    for bad in (0, 0.5, MAX_FOR_S + 1, True, "60", None, float("nan")):
        with pytest.raises(FaultError, match="for_s must be a number of seconds from 1 to 86400"):
            ending(NOON, bad)
