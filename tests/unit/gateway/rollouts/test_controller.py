"""The rollout controller on fakes: steps, gates, rollback, pauses, restarts and the lease.

Signals are a fake whose figures each test sets; the route table is the in-memory store with
the real changes module, so every step is a table version with its audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gateway import changes
from gateway.rollouts.controller import Controller
from gateway.rollouts.moves import Tables
from gateway.rollouts.operations import Operations
from gateway.rollouts.state import InMemoryRolloutStore
from gateway.routes import RouteTable
from gateway.store import InMemoryRouteStore
from tests.unit.gateway.rollouts.test_gates_and_spec import Parity, Side, signals

pytestmark = pytest.mark.anyio

UPSTREAMS = {"legacy": "http://legacy.test", "catalog": "http://catalog.test"}
FILE = RouteTable.from_dict(
    {
        "upstreams": UPSTREAMS,
        "routes": [
            {"name": "products", "match": "/products/**", "extracted": "catalog"},
            {"name": "stock", "match": "/stock/**", "extracted": "catalog"},
        ],
        "groups": [{"name": "shelf", "routes": ["products", "stock"]}],
    }
)
HEALTHY = signals(
    legacy=Side(requests=1000, latencies=(0.020,) * 1000),
    extracted=Side(requests=300, latencies=(0.015,) * 300),
    parity=Parity(match=500),
)
FAILING = signals(
    legacy=Side(requests=1000, latencies=(0.020,) * 1000),
    extracted=Side(requests=300, errors=60, latencies=(0.015,) * 300),
    parity=Parity(match=500),
)
QUIET = signals(legacy=Side(requests=1000, latencies=(0.02,) * 1000), extracted=Side(requests=3))
SPEC = {
    "route": "products",
    "steps": [5, 25, 50, 100],
    "interval": "10s",
    "gates": ["parity>=0.999", "errors<=1%", "p99<=1.2x legacy"],
    "min_requests": 200,
    "failure_limit": 2,
}


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeSignals:
    figures: Any = HEALTHY
    asked: list[tuple[str, float, float]] = field(default_factory=list)

    async def window(self, route: str, start: float, end: float) -> Any:
        self.asked.append((route, start, end))
        return self.figures


@dataclass
class World:
    clock: Clock
    store: InMemoryRouteStore
    rollouts: InMemoryRolloutStore
    signals: FakeSignals
    tables: Tables
    ops: Operations

    def controller(self, owner: str = "one") -> Controller:
        return Controller(
            rollouts=self.rollouts,
            tables=self.tables,
            signals=self.signals,
            owner=owner,
            http=httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
            clock=self.clock,
            lease_s=5.0,
        )

    async def route(self, name: str = "products") -> dict[str, Any]:
        table = await self.tables.live()
        found = table.get(name)
        assert found is not None
        return found.to_dict()

    async def actions(self) -> list[str]:
        return [entry["action"] for entry in await self.store.audit(100)]

    async def run(self, controller: Controller, seconds: float, step: float = 1.0) -> None:
        end = self.clock.now + seconds
        while self.clock.now < end:
            await controller.tick()
            self.clock.now += step


@pytest.fixture
async def world() -> World:
    clock = Clock()
    store = InMemoryRouteStore()
    await changes.seed(store, FILE)

    async def no_lags() -> None:
        return None

    tables = Tables(store, FILE, no_lags, 5.0)
    rollouts = InMemoryRolloutStore(clock=clock)
    return World(
        clock, store, rollouts, FakeSignals(), tables, Operations(rollouts, tables, clock=clock)
    )


async def test_a_healthy_rollout_walks_every_step_then_promotes_one_version_per_step(
    world: World,
) -> None:
    await world.ops.start(SPEC, actor="alice", reason="catalog 1.4")
    weights = []
    controller = world.controller()
    for _ in range(60):
        await controller.tick()
        route = await world.route()
        if not weights or weights[-1] != (route["mode"], route["weight"]):
            weights.append((route["mode"], route["weight"]))
        world.clock.now += 1
    assert weights == [
        ("canary", 5),
        ("canary", 25),
        ("canary", 50),
        ("canary", 100),
        ("extracted", 100),
    ]
    rollout = await world.rollouts.get("products")
    assert rollout is not None and rollout.status == "succeeded"
    assert await world.actions() == [
        "seed",
        "rollout-start",
        *["rollout-step"] * 4,
        "rollout-complete",
    ]
    # the legacy-bound share of each canary step is mirrored, for the parity gate
    assert (await world.route())["canary_mirror"] is False


async def test_each_step_holds_a_whole_interval_of_passing_checks(world: World) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    controller = world.controller()
    await world.run(controller, 9.5, step=0.5)  # just short of one interval
    assert (await world.route())["weight"] == 5
    await world.run(controller, 1.5, step=0.5)
    assert (await world.route())["weight"] == 25


async def test_failing_gates_roll_back_to_legacy_and_the_audit_names_the_gate(
    world: World,
) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    controller = world.controller()
    await world.run(controller, 11)  # into the second step
    assert (await world.route())["weight"] == 25
    world.signals.figures = FAILING
    await world.run(controller, 10)  # two failed checks are one interval
    route = await world.route()
    assert (route["mode"], route["weight"]) == ("legacy", 0)
    entry = (await world.store.audit(1))[-1]
    assert entry["action"] == "rollout-rollback" and entry["gate"] == "errors<=1%"
    assert "20.00%" in entry["reason"] and entry["weight"] == 25
    rollout = await world.rollouts.get("products")
    assert rollout is not None and rollout.status == "aborted"


async def test_too_few_requests_waits_and_never_moves_on(world: World) -> None:
    world.signals.figures = QUIET
    await world.ops.start(SPEC, actor="alice", reason="r")
    await world.run(world.controller(), 60)
    route = await world.route()
    assert (route["mode"], route["weight"]) == ("canary", 5)
    rollout = await world.rollouts.get("products")
    assert rollout is not None and rollout.status == "running"
    assert rollout.last_check is not None and rollout.last_check["outcome"] == "inconclusive"


async def test_a_kill_switch_mid_rollout_is_never_undone_by_the_controller(world: World) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    controller = world.controller()
    await world.run(controller, 3)
    await changes.kill(world.store, upstreams=UPSTREAMS, actor="bob", reason="p99 alarm")
    await world.run(controller, 60)
    assert (await world.route())["mode"] == "legacy"
    rollout = await world.rollouts.get("products")
    assert rollout is not None and rollout.status == "paused"
    assert "changed outside the rollout" in rollout.note
    assert (await world.actions())[-1] == "kill"


async def test_a_restarted_controller_goes_on_from_its_step_and_never_skips_a_gate(
    world: World,
) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    first = world.controller("first")
    await world.run(first, 12)
    assert (await world.route())["weight"] == 25
    # the first dies holding the lease; gates now fail for anyone who looks
    world.signals.figures = QUIET
    second = world.controller("second")
    assert await second.tick() is False  # the dead one's lease has not run out yet
    world.clock.now += 6
    await world.run(second, 40)
    route = await world.route()
    assert (route["mode"], route["weight"]) == ("canary", 25)  # held, not promoted
    world.signals.figures = HEALTHY
    await world.run(second, 11)
    assert (await world.route())["weight"] == 50


async def test_two_controllers_one_acts(world: World) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    one, two = world.controller("one"), world.controller("two")
    acted = []
    for _ in range(30):
        acted.append((await one.tick(), await two.tick()))
        world.clock.now += 1
    assert all(a and not b for a, b in acted)
    actors = {e["actor"] for e in await world.store.audit(100) if e["action"] == "rollout-step"}
    assert actors == {"rollout-controller"}
    steps = [e for e in await world.store.audit(100) if e["action"] == "rollout-step"]
    assert [e["weight"] for e in steps] == [5, 25, 50]  # each step once


async def test_an_operator_abort_lands_last_whatever_the_controller_does(world: World) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    controller = world.controller()
    await world.run(controller, 11)
    await world.ops.abort("products", actor="bob", reason="saw errors in the logs")
    await world.run(controller, 30)
    route = await world.route()
    assert (route["mode"], route["weight"]) == ("legacy", 0)
    assert (await world.actions())[-1] == "rollout-abort"


async def test_promote_skips_the_remaining_steps_with_a_reason(world: World) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    await world.run(world.controller(), 3)
    await world.ops.promote("products", actor="bob", reason="verified by hand")
    assert (await world.route())["mode"] == "extracted"
    entry = (await world.store.audit(1))[-1]
    assert (entry["action"], entry["reason"], entry["actor"]) == (
        "rollout-promote",
        "verified by hand",
        "bob",
    )


async def test_a_group_moves_its_routes_in_one_version_per_step(world: World) -> None:
    spec = {k: v for k, v in SPEC.items() if k != "route"} | {"group": "shelf"}
    await world.ops.start(spec, actor="alice", reason="both shelves")
    await world.run(world.controller(), 25)
    steps = [e for e in await world.store.audit(100) if e["action"] == "rollout-step"]
    assert [(e["route"], e["weight"]) for e in steps] == [
        ("shelf", 5),
        ("shelf", 25),
        ("shelf", 50),
    ]
    for entry in steps:
        version = await world.store.at(entry["version"])
        assert version is not None
        weights = {r["name"]: (r["mode"], r["weight"]) for r in version["routes"]}
        assert weights == {n: ("canary", entry["weight"]) for n in ("products", "stock")}


async def test_a_second_rollout_of_a_route_already_rolling_out_is_refused(world: World) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    with pytest.raises(changes.ChangeError, match="already moves products"):
        await world.ops.start({**SPEC}, actor="bob", reason="again")


class FailingSave(InMemoryRolloutStore):
    """The in-memory store, whose next save fails once armed (the store lost mid-tick)."""

    armed = False

    async def save(self, rollout: Any, owner: str | None = None) -> Any:
        if self.armed and rollout.status == "succeeded":
            self.armed = False
            raise ConnectionError("the store went away")
        return await super().save(rollout, owner)


async def test_a_promotion_whose_state_was_lost_ends_succeeded_not_paused(world: World) -> None:
    rollouts = FailingSave(clock=world.clock)
    world.rollouts = rollouts
    world.ops = Operations(rollouts, world.tables, clock=world.clock)
    await world.ops.start({**SPEC, "steps": [50, 100]}, actor="alice", reason="r")
    controller = world.controller()
    rollouts.armed = True
    with pytest.raises(ConnectionError):
        await world.run(controller, 30)
    assert (await world.route())["mode"] == "extracted"  # moved, but not saved as done
    await world.run(controller, 3)
    rollout = await world.rollouts.get("products")
    assert rollout is not None and rollout.status == "succeeded", rollout.note
    assert (await world.actions())[-1] == "rollout-complete"


async def test_slow_pre_promotion_checks_keep_the_lease_and_promote(world: World) -> None:
    """Three checks of 3 s each outlast a 5 s lease: the controller keeps it through them (the
    standby asking for it at every check gets nothing) and promotes."""
    await world.ops.start(
        {**SPEC, "steps": [100], "checks": [f"http://ci.test/{n}" for n in range(3)]},
        actor="alice",
        reason="r",
    )
    taken = []

    async def slow(request: httpx.Request) -> httpx.Response:
        world.clock.now += 3
        taken.append(await world.rollouts.lease("standby", 5.0))
        return httpx.Response(200)

    controller = world.controller("one")
    controller.http = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    for _ in range(11):
        await controller.tick()
        world.clock.now += 1
        if taken:
            break
    assert taken == [False, False, False]
    assert (await world.route())["mode"] == "extracted"
    assert (await world.actions())[-1] == "rollout-complete"
