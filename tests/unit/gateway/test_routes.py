"""The route table: validation with clear messages, ordered matching, indexing that scales."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.routes import Mode, RouteTable, RouteTableError

UPSTREAMS = {"legacy": "http://127.0.0.1:1", "orders": "http://127.0.0.1:2"}


def table(*routes: dict[str, Any]) -> RouteTable:
    return RouteTable.from_dict({"upstreams": UPSTREAMS, "routes": list(routes)})


def test_anything_no_rule_matches_goes_to_the_legacy_default() -> None:
    match = table().match("GET", "/whatever/deep/path")
    assert match.route.name == "default" and match.route.mode is Mode.LEGACY


def test_the_first_matching_rule_in_table_order_wins_and_captures_parameters() -> None:
    routes = table(
        {
            "name": "history",
            "match": "/users/{user_id}/orders",
            "methods": ["GET"],
            "extracted": "orders",
        },
        {"name": "users", "match": "/users/**"},
    )
    history = routes.match("GET", "/users/42/orders")
    assert history.route.name == "history" and history.params == {"user_id": "42"}
    assert routes.match("POST", "/users/42/orders").route.name == "users"  # method filter
    assert routes.match("GET", "/users").route.name == "users"  # ** matches zero segments
    assert routes.match("GET", "/usersx").route.name == "default"


def test_a_wildcard_first_segment_still_respects_table_order() -> None:
    routes = table(
        {"name": "any-health", "match": "/{anything}/health"},
        {"name": "users", "match": "/users/**"},
    )
    assert routes.match("GET", "/users/health").route.name == "any-health"
    assert routes.match("GET", "/users/1").route.name == "users"


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"name": "Bad Name", "match": "/x"}, "route name"),
        ({"name": "x", "match": "x"}, "must start with /"),
        ({"name": "x", "match": "/a/../b"}, "bad segment"),
        ({"name": "x", "match": "/a", "mode": "sideways"}, "mode must be one of"),
        ({"name": "x", "match": "/a", "mode": "canary"}, "needs an extracted upstream"),
        ({"name": "x", "match": "/a", "extracted": "billing"}, "'billing' is not declared"),
        ({"name": "x", "match": "/a", "weight": 101}, "weight must be a number from 0 to 100"),
        ({"name": "x", "match": "/a", "weight": True}, "weight must be a number"),
        ({"name": "x", "match": "/a", "sticky_key": "body:id"}, "sticky_key"),
        ({"name": "x", "match": "/a", "methods": ["FETCH"]}, "methods must be"),
        ({"name": "x", "match": "/a", "colour": "red"}, "unknown setting"),
    ],
)
def test_a_bad_route_is_refused_with_a_message_saying_what_is_wrong(
    route: dict[str, Any], message: str
) -> None:
    with pytest.raises(RouteTableError, match=message):
        table(route)


def test_duplicate_route_names_and_bad_upstream_urls_are_refused() -> None:
    with pytest.raises(RouteTableError, match="duplicate"):
        table({"name": "x", "match": "/a"}, {"name": "x", "match": "/b"})
    with pytest.raises(RouteTableError, match="not an http"):
        RouteTable.from_dict({"upstreams": {"legacy": "ftp://x"}, "routes": []})
    with pytest.raises(RouteTableError, match="'legacy' must be declared"):
        RouteTable.from_dict({"upstreams": {"orders": "http://x"}, "routes": []})


def test_a_table_survives_a_round_trip_through_its_dict_form() -> None:
    original = table(
        {
            "name": "orders",
            "match": ["/orders/**"],
            "extracted": "orders",
            "mode": "canary",
            "weight": 25,
            "sticky_key": "header:X-User-Id",
        }
    )
    again = RouteTable.from_dict(original.to_dict())
    assert again.to_dict() == original.to_dict()
    assert str(again.routes[0].sticky_key) == "header:x-user-id"


def _big_table(size: int) -> RouteTable:
    return table(*[{"name": f"r{n}", "match": f"/area{n}/{{id}}/items/**"} for n in range(size)])


def test_a_1000_route_table_matches_each_route_and_falls_back_to_the_default() -> None:
    # how fast is measured by the gateway benchmark, not here
    big = _big_table(1000)
    for n in (0, 1, 500, 999):
        assert big.match("GET", f"/area{n}/7/items/x").route.name == f"r{n}"
    assert big.match("GET", "/area1000/7/items/x").route.name == "default"
