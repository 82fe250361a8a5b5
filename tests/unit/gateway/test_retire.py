"""Retiring legacy: the table flag, the changes it refuses, and what the proxy answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import changes
from gateway.app import create_gateway
from gateway.routes import RetiredUpstreamError, RouteTable
from gateway.settings import GatewaySettings
from gateway.store import InMemoryRouteStore
from tests.unit.gateway.test_proxy import LEGACY, ORDERS, FakeUpstream

pytestmark = pytest.mark.anyio

UPSTREAMS = {"legacy": "http://l.test", "orders": "http://o.test"}
CUT_OVER = {"mode": "extracted", "fallback": False}


def route(name: str, **settings: Any) -> dict[str, Any]:
    return {"name": name, "match": f"/{name}/**", "extracted": "orders", **settings}


def table(*routes: dict[str, Any], retired: tuple[str, ...] = ()) -> RouteTable:
    return RouteTable.from_dict(
        {"upstreams": UPSTREAMS, "routes": list(routes), "retired": list(retired)}
    )


async def stored(*routes: dict[str, Any]) -> InMemoryRouteStore:
    store = InMemoryRouteStore()
    await changes.seed(store, table(*routes))
    return store


def change(**more: Any) -> dict[str, Any]:
    return {"upstreams": UPSTREAMS, "actor": "ada", "reason": "legacy is done", **more}


def test_a_table_cannot_retire_an_upstream_a_route_can_still_send_to() -> None:
    with pytest.raises(RetiredUpstreamError) as refused:
        table(
            route("carts", mode="canary", weight=50),
            route("orders", mode="extracted"),
            route("users", **CUT_OVER),
            retired=("legacy",),
        )
    message = str(refused.value)
    assert "route 'carts' is in canary mode" in message
    assert "route 'orders' falls back to it on errors" in message
    assert "users" not in message


def test_a_retired_upstream_survives_the_stored_form() -> None:
    retired = table(route("users", **CUT_OVER), retired=("legacy",))
    again = RouteTable.from_dict(retired.to_stored(), upstreams=UPSTREAMS)
    assert again.retired == {"legacy"} and retired.to_stored()["retired"] == ["legacy"]
    assert table(route("users")).retired == frozenset()  # stored before retiring existed


async def test_retiring_is_refused_naming_each_route_that_still_reaches_legacy() -> None:
    store = await stored(route("carts", mode="shadow"), route("users", mode="extracted"))
    with pytest.raises(changes.ChangeError) as refused:
        await changes.retire(store, "legacy", **change())
    assert refused.value.status == 409
    assert "route 'carts' is in shadow mode" in str(refused.value)
    assert "route 'users' falls back to it on errors" in str(refused.value)
    assert await store.version() == 1  # nothing changed


async def test_retiring_and_unretiring_are_audited_versions() -> None:
    store = await stored(route("users", **CUT_OVER))
    retired = await changes.retire(store, "legacy", **change())
    assert retired.table.retired == {"legacy"}
    assert retired.audit["action"] == "retire" and retired.audit["actor"] == "ada"
    assert retired.audit["before"] == {"retired": []}
    assert retired.audit["after"] == {"retired": ["legacy"]}
    with pytest.raises(changes.ChangeError, match="retired already"):
        await changes.retire(store, "legacy", **change())
    back = await changes.unretire(store, "legacy", **change(reason="contract postponed"))
    assert back.table.retired == frozenset() and back.audit["action"] == "unretire"
    assert [e["action"] for e in await store.audit(10)] == ["seed", "retire", "unretire"]


async def test_while_retired_no_change_may_send_a_route_to_legacy_again() -> None:
    store = await stored(route("users", **CUT_OVER), route("carts", mode="extracted"))
    await changes.set_route(store, "carts", {"fallback": False}, **change())
    await changes.retire(store, "legacy", **change())
    for settings in ({"mode": "canary", "weight": 5}, {"fallback": True}):
        with pytest.raises(changes.ChangeError, match="unretire legacy") as refused:
            await changes.set_route(store, "carts", settings, **change())
        assert refused.value.status == 409 and "route 'carts'" in str(refused.value)
    with pytest.raises(changes.ChangeError, match="unretire legacy --reason") as killed:
        await changes.kill(store, **change())
    assert killed.value.status == 409
    with pytest.raises(changes.ChangeError, match="'legacy' is retired") as rolled:
        await changes.rollback(store, 1, **change())  # version 1 fell back to legacy: no
    assert rolled.value.status == 409
    assert (await changes.load(store, UPSTREAMS)).retired == {"legacy"}


async def test_a_rollback_while_retired_keeps_legacy_retired() -> None:
    store = await stored(route("users", **CUT_OVER))
    await changes.set_route(store, "users", {"timeout_s": 3}, **change())  # version 2
    await changes.retire(store, "legacy", **change())
    restored = await changes.rollback(store, 2, **change())
    assert restored.table.retired == {"legacy"}  # version 2 had no flag; it stays retired
    await changes.unretire(store, "legacy", **change())
    killed = await changes.kill(store, **change())  # once unretired, the kill switch works
    assert killed.table.get("users").mode.value == "legacy"  # type: ignore[union-attr]


def retired_gateway(tmp_path: Path, upstream: FakeUpstream) -> httpx.AsyncClient:
    routes = tmp_path / "routes.toml"
    routes.write_text(
        'retired = ["legacy"]\n'
        f'[upstreams]\nlegacy = "{LEGACY}"\norders = "{ORDERS}"\n'
        '[[routes]]\nname = "orders"\nmatch = ["/orders/**"]\nextracted = "orders"\n'
        'mode = "extracted"\nfallback = false\n'
    )
    settings = GatewaySettings(routes_file=routes, internal_token="s3cret")
    gateway = create_gateway(settings, upstream=upstream)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway.public), base_url="http://shop.test"
    )


async def test_with_legacy_retired_an_unmatched_path_is_a_404_and_legacy_is_never_called(
    tmp_path: Path,
) -> None:
    fake = FakeUpstream()
    async with retired_gateway(tmp_path, fake) as c:
        served = await c.get("/orders/7")
        unmatched = await c.post("/users", json={"email": "a@b.test"})
        overridden = await c.get(
            "/orders/7", headers={"X-Strangler-Target": "legacy", "X-Strangler-Token": "s3cret"}
        )
    assert served.json()["served_by"] == ORDERS
    assert unmatched.status_code == 404
    assert unmatched.headers["content-type"] == "application/problem+json"
    assert unmatched.json()["type"].endswith("legacy-retired")
    assert "legacy" in unmatched.json()["detail"] and unmatched.json()["route"] == "default"
    assert overridden.status_code == 503 and overridden.json()["type"].endswith("legacy-retired")
    assert [call.url for call in fake.calls] == [f"{ORDERS}/orders/7"]
