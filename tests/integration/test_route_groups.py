"""Route groups on real gateways and the real Redis: a group moves in one version with one
audit entry, keeps a user on one side across its routes, loses no concurrent change, and is
refused whole when the coexistence guard blocks one of its routes."""

from __future__ import annotations

import asyncio
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway import changes
from gateway.routes import RouteTable
from gateway.store import RedisRouteStore
from tests.integration.gateways import GatewayProcess

ROUTES = """
[upstreams]
legacy = "{legacy}"
extracted = "{extracted}"

[[routes]]
name = "carts"
match = ["/users/{{user_id}}/cart"]
extracted = "extracted"
sticky_key = "path:user_id"
writes = ["orders"]

[[routes]]
name = "orders"
match = ["/orders/{{order_id}}"]
extracted = "extracted"
sticky_key = "path:order_id"
writes = ["orders"]

[[routes]]
name = "reports"
match = ["/reports/**"]
extracted = "extracted"
reads = ["orders"]
read_model = "analytics"

[[routes]]
name = "products"
match = ["/products/**"]
extracted = "extracted"

[[groups]]
name = "checkout"
routes = ["carts", "orders"]
sticky_key = "header:x-user-id"

[[groups]]
name = "month-end"
routes = ["reports", "products"]
"""


@pytest.fixture
def grouped(
    gateway: Callable[..., GatewayProcess], upstreams: dict[str, str], tmp_path: Path
) -> GatewayProcess:
    routes = tmp_path / "grouped.toml"
    routes.write_text(ROUTES.format(**upstreams))
    # a lag key no relay writes: capture reads as off, so the guard blocks the report
    lag_key = f"groups-{uuid.uuid4().hex[:8]}:capture:lag"
    return gateway(GATEWAY_ROUTES_FILE=str(routes), GATEWAY_CAPTURE_LAG_KEY=lag_key)


def modes(gw: GatewayProcess) -> dict[str, tuple[str, float]]:
    return {r["name"]: (r["mode"], r["weight"]) for r in gw.admin.get("/routes").json()["routes"]}


def test_a_group_move_is_one_version_one_audit_entry_and_keeps_a_user_on_one_side(
    grouped: GatewayProcess,
) -> None:
    gw = grouped
    version = gw.admin.get("/routes").json()["version"]
    moved = gw.admin.patch(
        "/groups/checkout", json={"mode": "canary", "weight": 50, "reason": "ramp together"}
    )
    assert moved.status_code == 200, moved.text
    assert gw.admin.get("/routes").json()["version"] == version + 1
    assert modes(gw)["carts"] == modes(gw)["orders"] == ("canary", 50)
    assert modes(gw)["products"] == ("legacy", 0)
    previous, entry = gw.admin.get("/audit", params={"limit": 2}).json()["entries"]
    assert previous["version"] == version  # one entry for the whole group
    assert (entry["version"], entry["action"], entry["route"]) == (
        version + 1,
        "set-group",
        "checkout",
    )
    assert sorted(entry["before"]) == sorted(entry["after"]) == ["carts", "orders"]
    assert entry["after"]["orders"]["weight"] == 50 and entry["before"]["orders"]["weight"] == 0

    sides = set()
    for user in range(40):
        key = {"X-User-Id": f"user-{user}"}
        side = gw.served_by(f"/users/{user}/cart", headers=key)
        assert gw.served_by(f"/orders/{7000 + user}", headers=key) == side, user
        sides.add(side)
    assert sides == {"legacy", "extracted"}

    cli = gw.cli("routes", "set-group", "checkout", "--mode", "extracted", "--reason", "all in")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "set-group checkout" in cli.stdout
    listed = gw.cli("routes", "groups")
    assert listed.returncode == 0, listed.stderr
    assert "checkout  (sticky key: header:x-user-id; salt: checkout)" in listed.stdout
    assert "month-end  (sticky key: each route's own; salt: month-end)" in listed.stdout
    assert [line.split()[:2] for line in listed.stdout.splitlines() if "  carts" in line] == [
        ["carts", "extracted"]
    ]
    assert gw.served_by("/orders/1") == gw.served_by("/users/1/cart") == "extracted"


def test_the_guard_refuses_the_whole_group_when_one_route_is_blocked_and_force_is_audited(
    grouped: GatewayProcess,
) -> None:
    gw = grouped
    version = gw.admin.get("/routes").json()["version"]
    refused = gw.admin.patch("/groups/month-end", json={"mode": "extracted", "reason": "month end"})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    said = refused.json()["detail"]
    assert "route reports reads orders" in said and "the outbox relay is not running" in said
    assert gw.admin.get("/routes").json()["version"] == version  # nothing moved, not even
    assert gw.served_by("/products/1") == "legacy"  # the route the guard had nothing against
    assert gw.served_by("/reports/sales") == "legacy"

    others = {
        "no group": (gw.admin.patch("/groups/nope", json={"mode": "shadow", "reason": "x"}), 404),
        "setting": (gw.admin.patch("/groups/checkout", json={"colour": 1, "reason": "x"}), 400),
        "weight": (gw.admin.patch("/groups/checkout", json={"weight": 200, "reason": "x"}), 422),
        "salt": (gw.admin.patch("/groups/checkout", json={"salt": "x", "reason": "x"}), 422),
        "reason": (gw.admin.patch("/groups/checkout", json={"mode": "shadow"}), 400),
    }
    for what, (response, status) in others.items():
        assert response.status_code == status, (what, response.text)
        assert response.json()["detail"], what
    assert gw.admin.get("/routes").json()["version"] == version

    forced = gw.cli(
        "routes", "set-group", "month-end", "--mode", "extracted", "--force", "--reason", "close"
    )
    assert forced.returncode == 0, forced.stdout + forced.stderr
    [entry] = gw.admin.get("/audit", params={"limit": 1}).json()["entries"]
    assert entry["action"] == "set-group" and list(entry["forced"]) == ["reports"]
    assert "not running" in entry["forced"]["reports"]
    assert gw.served_by("/products/1") == gw.served_by("/reports/sales") == "extracted"


@pytest.mark.anyio
async def test_group_moves_and_route_changes_racing_from_two_gateways_all_land(
    redis_url: str,
) -> None:
    upstreams = {"legacy": "http://legacy.test", "extracted": "http://extracted.test"}
    declared = tomllib.loads(ROUTES.format(**upstreams))
    namespace = f"test-groups-{uuid.uuid4().hex}"
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        one, two = RedisRouteStore(first, namespace), RedisRouteStore(second, namespace)
        await changes.seed(one, RouteTable.from_dict(declared, version=0))
        who: dict[str, Any] = {"upstreams": upstreams, "reason": "race"}
        for round_ in range(3):  # each round's changes all read the same version first
            weight = 10 * (round_ + 1)
            await asyncio.gather(
                changes.set_group(
                    one, "checkout", {"mode": "canary", "weight": weight}, actor="a", **who
                ),
                changes.set_route(two, "carts", {"timeout_s": 3 + round_}, actor="b", **who),
                changes.set_route(
                    one, "orders", {"connect_timeout_s": 1 + round_}, actor="c", **who
                ),
                changes.set_group(
                    two, "month-end", {"shadow_sample": 0.1 * (round_ + 1)}, actor="d", **who
                ),
            )
        assert await two.version() == 1 + 12
        entries = await two.audit(100)
        assert [e["version"] for e in entries] == list(range(1, 14))
        assert sorted(e["actor"] for e in entries[1:]) == sorted("abcd" * 3)
        live = await changes.load(two, upstreams)
        carts, orders = live.get("carts"), live.get("orders")
        reports, products = live.get("reports"), live.get("products")
        assert carts is not None and orders is not None
        assert reports is not None and products is not None
        assert (carts.mode.value, carts.weight, carts.timeout_s) == ("canary", 30, 5)
        assert (orders.mode.value, orders.weight, orders.connect_timeout_s) == ("canary", 30, 3)
        assert reports.shadow_sample == products.shadow_sample == pytest.approx(0.3)
        assert [g.name for g in live.groups] == ["checkout", "month-end"]
    finally:
        await first.aclose()
        await second.aclose()
