"""Route groups: declared and validated with the table, bucketed as one, moved as one change."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import changes
from gateway.canary import bucket
from gateway.coexistence import check_all
from gateway.proxy import decide
from gateway.routes import Mode, Route, RouteTable, RouteTableError
from gateway.store import InMemoryRouteStore
from new_services.outbox_relay.lag import Lag

pytestmark = pytest.mark.anyio

UPSTREAMS = {"legacy": "http://l.test", "orders": "http://o.test", "analytics": "http://a.test"}
CART: dict[str, Any] = {
    "name": "carts",
    "match": ["/users/{user_id}/cart", "/users/{user_id}/checkout"],
    "extracted": "orders",
    "sticky_key": "path:user_id",
    "writes": ["orders"],
}
ORDER: dict[str, Any] = {
    "name": "orders",
    "match": "/orders/{order_id}",
    "extracted": "orders",
    "sticky_key": "path:order_id",
    "salt": "orders-salt",
    "writes": ["orders"],
}
REPORT: dict[str, Any] = {
    "name": "reports",
    "match": "/reports/**",
    "extracted": "analytics",
    "reads": ["orders"],
    "read_model": "analytics",
}
CHECKOUT = {"name": "checkout", "routes": ["carts", "orders"], "sticky_key": "header:X-User-Id"}


def table(*groups: dict[str, Any], routes: tuple[dict[str, Any], ...] = ()) -> RouteTable:
    return RouteTable.from_dict(
        {
            "upstreams": UPSTREAMS,
            "routes": list(routes or (CART, ORDER, REPORT)),
            "groups": list(groups),
        }
    )


def test_a_table_without_groups_still_loads_and_says_it_has_none() -> None:
    plain = RouteTable.from_dict({"upstreams": UPSTREAMS, "routes": [CART]})
    assert plain.groups == () and plain.routes[0].group is None
    assert plain.to_dict()["groups"] == [] and plain.to_dict()["routes"][0]["group"] is None


def test_groups_survive_a_round_trip_through_the_dict_form_and_the_stored_form() -> None:
    original = table(CHECKOUT)
    for form in (original.to_dict(), original.to_stored()):
        again = RouteTable.from_dict(form, upstreams=UPSTREAMS)
        assert again.to_dict() == original.to_dict()
    [group] = original.to_dict()["groups"]
    assert group == {
        "name": "checkout",
        "routes": ["carts", "orders"],
        "sticky_key": "header:x-user-id",
        "salt": "checkout",  # the group's name unless declared
    }


def test_a_members_dict_keeps_its_own_key_and_salt_and_shows_what_it_buckets_by() -> None:
    orders = table(CHECKOUT).get("orders")
    assert orders is not None
    shown = orders.to_dict()
    assert (shown["sticky_key"], shown["salt"]) == ("path:order_id", "orders-salt")
    assert shown["group"] == {
        "name": "checkout",
        "sticky_key": "header:x-user-id",
        "salt": "checkout",
    }
    reports = table(CHECKOUT).get("reports")
    assert reports is not None and reports.to_dict()["group"] is None


def test_members_read_the_groups_key_or_else_their_own_and_all_use_the_groups_salt() -> None:
    keyed, unkeyed = table(CHECKOUT), table({"name": "checkout", "routes": ["carts", "orders"]})
    for name in ("carts", "orders"):
        with_key, own_key = keyed.get(name), unkeyed.get(name)
        assert with_key is not None and own_key is not None
        assert str(with_key.effective_sticky_key) == "header:x-user-id"
        assert own_key.effective_sticky_key == own_key.sticky_key
        assert with_key.effective_salt == own_key.effective_salt == "checkout"
    salted = table({**CHECKOUT, "salt": "v2"}).get("orders")
    assert salted is not None and salted.effective_salt == "v2"
    outsider = keyed.get("reports")
    assert outsider is not None and outsider.effective_salt == "reports"


def at(route: Route | None, weight: float) -> Route:
    assert route is not None
    return replace(route, mode=Mode.CANARY, weight=weight)


def test_one_key_value_lands_in_one_bucket_and_on_one_side_on_every_member() -> None:
    grouped = table(CHECKOUT)
    users = [f"user-{n}" for n in range(500)]
    assert [bucket("checkout", u) for u in users] != [bucket("orders-salt", u) for u in users]
    for weight in (1, 10, 25, 50, 75, 99):
        carts, orders = at(grouped.get("carts"), weight), at(grouped.get("orders"), weight)
        sides = [(decide(carts, u, None).target, decide(orders, u, None).target) for u in users]
        assert all(cart == order for cart, order in sides), weight
        assert {cart for cart, _ in sides} == {"legacy", "extracted"}, weight


@given(key=st.text(max_size=20), low=st.floats(0, 100), high=st.floats(0, 100))
def test_raising_a_groups_weight_never_moves_a_key_back_on_any_member(
    key: str, low: float, high: float
) -> None:
    low, high = min(low, high), max(low, high)
    grouped = table(CHECKOUT)
    if decide(at(grouped.get("carts"), low), key, None).target == "extracted":
        assert decide(at(grouped.get("orders"), high), key, None).target == "extracted"


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([{"name": "Check Out", "routes": ["carts", "orders"]}], "group name"),
        ([{"name": "g", "routes": ["carts", "orders"], "colour": "red"}], "unknown setting"),
        ([{"name": "g", "routes": ["carts"]}], "at least 2 routes, each once"),
        ([{"name": "g", "routes": ["carts", "carts"]}], "at least 2 routes, each once"),
        ([{"name": "g", "routes": "carts"}], "routes must be a list"),
        ([{"name": "g", "routes": ["carts", "payments"]}], "no route named 'payments'"),
        ([{"name": "orders", "routes": ["carts", "reports"]}], "a route has that name"),
        (
            [{"name": "g", "routes": ["carts", "orders"]}, {"name": "g", "routes": ["reports"]}],
            "at least 2",
        ),
        (
            [
                {"name": "g", "routes": ["carts", "orders"]},
                {"name": "g", "routes": ["carts", "reports"]},
            ],
            "duplicate group name 'g'",
        ),
        (
            [
                {"name": "g", "routes": ["carts", "orders"]},
                {"name": "h", "routes": ["orders", "reports"]},
            ],
            "route 'orders' is in groups 'g' and 'h'",
        ),
        ([{"name": "g", "routes": ["carts", "orders"], "sticky_key": "body:id"}], "sticky_key"),
        (
            [{"name": "g", "routes": ["carts", "orders"], "sticky_key": "path:user_id"}],
            "path:user_id is no parameter of route 'orders'",
        ),
        ([{"name": "g", "routes": ["carts", "orders"], "salt": ""}], "salt must be"),
    ],
)
def test_a_bad_group_is_refused_saying_what_is_wrong(
    groups: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(RouteTableError, match=message):
        table(*groups)


def test_a_route_cannot_join_a_group_by_itself_and_groups_must_be_tables() -> None:
    with pytest.raises(RouteTableError, match=r"joins a group in \[\[groups\]\]"):
        table(routes=({**CART, "group": "checkout"}, ORDER))
    with pytest.raises(RouteTableError, match="groups must be a list of tables"):
        RouteTable.from_dict({"upstreams": UPSTREAMS, "routes": [], "groups": ["checkout"]})


async def stored(*groups: dict[str, Any]) -> InMemoryRouteStore:
    store = InMemoryRouteStore()
    await changes.seed(store, table(*groups))
    return store


def change(**more: Any) -> dict[str, Any]:
    return {"upstreams": UPSTREAMS, "actor": "ada", "reason": "ramp", **more}


async def test_a_group_moves_in_one_version_with_one_audit_entry_per_member_before_after() -> None:
    store = await stored(CHECKOUT)
    done = await changes.set_group(store, "checkout", {"mode": "canary", "weight": 25}, **change())
    assert done.version == await store.version() == 2
    [_, entry] = await store.audit(10)
    assert (entry["action"], entry["route"], entry["actor"]) == ("set-group", "checkout", "ada")
    assert {n: r["mode"] for n, r in entry["before"].items()} == {
        "carts": "legacy",
        "orders": "legacy",
    }
    assert {n: (r["mode"], r["weight"]) for n, r in entry["after"].items()} == {
        "carts": ("canary", 25),
        "orders": ("canary", 25),
    }
    live = await changes.load(store, UPSTREAMS)
    assert [(r.name, r.mode.value, r.weight) for r in live.routes] == [
        ("carts", "canary", 25.0),
        ("orders", "canary", 25.0),
        ("reports", "legacy", 0.0),
    ]
    assert live.groups == table(CHECKOUT).groups  # a change keeps the groups


async def test_a_group_move_that_cannot_apply_to_every_member_applies_to_none() -> None:
    store = await stored({"name": "month-end", "routes": ["orders", "reports"]})
    cases = [
        ("nope", {"mode": "canary"}, 404, "no group named 'nope'"),
        ("month-end", {"colour": "red"}, 400, "cannot set colour"),
        ("month-end", {"weight": 101}, 422, "weight must be a number from 0 to 100"),
        ("month-end", {"salt": "x"}, 422, "buckets by the salt of its group 'month-end'"),
    ]
    for group, settings, status, message in cases:
        with pytest.raises(changes.ChangeError, match=message) as refused:
            await changes.set_group(store, group, settings, **change())
        assert refused.value.status == status
    assert await store.version() == 1


async def test_a_members_key_is_refused_only_where_the_group_declares_one() -> None:
    keyed = await stored(CHECKOUT)
    with pytest.raises(changes.ChangeError, match="sticky_key of its group 'checkout'"):
        await changes.set_route(keyed, "orders", {"sticky_key": "header:x-a"}, **change())
    unkeyed = await stored({"name": "checkout", "routes": ["carts", "orders"]})
    await changes.set_group(unkeyed, "checkout", {"sticky_key": "header:x-user-id"}, **change())
    live = await changes.load(unkeyed, UPSTREAMS)
    assert {str(r.effective_sticky_key) for r in live.routes[:2]} == {"header:x-user-id"}


async def test_several_routes_with_different_settings_commit_as_one_version() -> None:
    store = await stored()
    await changes.set_routes(
        store,
        {"carts": {"timeout_s": 3}, "orders": {"mode": "shadow"}},
        **change(action="ramp", route_label="checkout-ramp"),
    )
    [_, entry] = await store.audit(10)
    assert (entry["action"], entry["route"], sorted(entry["after"])) == (
        "ramp",
        "checkout-ramp",
        ["carts", "orders"],
    )
    live = await changes.load(store, UPSTREAMS)
    assert (live.routes[0].timeout_s, live.routes[1].mode.value) == (3.0, "shadow")


async def test_one_route_set_keeps_its_audit_entry_shape() -> None:
    store = await stored()
    done = await changes.set_route(store, "orders", {"mode": "shadow"}, **change())
    assert done.audit["route"] == "orders" and done.audit["action"] == "set"
    assert (done.audit["before"]["mode"], done.audit["after"]["mode"]) == ("legacy", "shadow")


async def test_a_note_is_an_audited_version_of_the_unchanged_table() -> None:
    store = await stored(CHECKOUT)
    before = await store.table()
    for route in ("checkout", "orders", None):
        done = await changes.note(
            store,
            action="rollout-started",
            route=route,
            reason="5% steps",
            actor="controller",
            upstreams=UPSTREAMS,
            noted={"steps": [5, 25, 50]},
        )
        assert done.audit["route"] == route and done.audit["steps"] == [5, 25, 50]
    assert await store.version() == 4
    after = await store.table()
    assert after is not None and before is not None
    assert {**after, "version": 1} == before
    with pytest.raises(changes.ChangeError, match="no route or group named 'nope'"):
        await changes.note(
            store, action="x", route="nope", reason="r", actor="a", upstreams=UPSTREAMS
        )
    parity = await changes.reset_parity(store, "orders", {"mismatch": 3}, **change())
    assert parity.audit["action"] == "reset-parity" and parity.audit["before"] == {"mismatch": 3}


FRESH = {"analytics": Lag(0.4, 0)}


def blocked_routes(moves: dict[str, dict[str, Any]], lags: dict[str, Lag] | None) -> list[str]:
    live = table()
    return [b.route for b in check_all(live, live, moves, lags, 5.0)]


def test_the_guard_checks_every_member_of_a_group_move() -> None:
    extracted = {"mode": "extracted"}
    assert blocked_routes({"carts": extracted, "reports": extracted}, None) == ["reports"]
    assert blocked_routes({"carts": extracted, "reports": extracted}, FRESH) == []
    # the writers move with the report: none is left sending orders to legacy
    assert (
        blocked_routes({"carts": extracted, "orders": extracted, "reports": extracted}, None) == []
    )
    assert blocked_routes({"carts": {"mode": "canary"}, "orders": {"mode": "canary"}}, None) == []
