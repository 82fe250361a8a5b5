"""The rollout controller on the real Redis: a group moves in single table versions, two
controllers on two connections take turns through the lease (and one that lost it mid-tick
writes nothing), an operator's abort racing the controller's step ends in legacy, and a
table written around the admin API or a Redis outage mid-tick holds a rollout, never
crashes the controller or loses what it did.

Signals are real too: a SignalRecorder adds each simulated second's requests to the
per-second hashes the gateways write, on the fake clock the controller reads them by.
Leases expire by Redis' own clock, so a takeover waits for real (lease_s is 2 s here).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway import changes
from gateway.rollouts.__main__ import ControllerSettings, run
from gateway.rollouts.controller import Controller
from gateway.rollouts.moves import Tables
from gateway.rollouts.operations import Operations
from gateway.rollouts.state import RedisRolloutStore, Rollout
from gateway.routes import RouteTable
from gateway.settings import GatewaySettings
from gateway.signals import RedisSignalStore, RouteSignals, SignalRecorder
from gateway.store import Document, RedisRouteStore
from tests.conftest import free_port_base

pytestmark = pytest.mark.anyio

T0 = 1_900_000_000.0
INTERVAL_S = 4.0
LEASE_S = 2.0
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
ROUTES_FILE = """
[upstreams]
legacy = "http://legacy.test"
catalog = "http://catalog.test"

[[routes]]
name = "products"
match = ["/products/**"]
extracted = "catalog"

[[routes]]
name = "stock"
match = ["/stock/**"]
extracted = "catalog"

[[groups]]
name = "shelf"
routes = ["products", "stock"]
"""
SHELF = ("products", "stock")
SPEC = {
    "group": "shelf",
    "steps": [10, 50, 100],
    "interval": f"{INTERVAL_S:g}s",
    "gates": ["errors<=1%", "p99<=1.5x legacy"],
    "min_requests": 20,
    "failure_limit": 2,
}
Hook = Callable[[], Awaitable[None]]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Once:
    """A hook that runs at most once, when armed: where a test steps into a tick."""

    def __init__(self) -> None:
        self.hook: Hook | None = None

    async def __call__(self) -> None:
        hook, self.hook = self.hook, None
        if hook is not None:
            await hook()


class HookedRollouts(RedisRolloutStore):
    """The real store; `after_all` runs once the rollouts have been read."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        super().__init__(redis, namespace)
        self.after_all = Once()

    async def all(self) -> list[Rollout]:
        found = await super().all()
        await self.after_all()
        return found


class HookedRoutes(RedisRouteStore):
    """The real store; `after_commit` runs once a commit has landed."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        super().__init__(redis, namespace)
        self.after_commit = Once()

    async def commit(self, expected: int, table: Document, audit: Document) -> bool:
        done = await super().commit(expected, table, audit)
        if done:
            await self.after_commit()
        return done


@dataclass(frozen=True)
class HookedTables(Tables):
    """The real tables; `after_live` runs once the live table has been read."""

    after_live: Once = field(default_factory=Once)

    async def live(self) -> RouteTable:
        table = await super().live()
        await self.after_live()
        return table


class HookedSignals(RedisSignalStore):
    """The real signals; `before_window` runs before a window is read."""

    def __init__(self, redis: Redis, namespace: str, clock: Clock) -> None:
        super().__init__(redis, namespace, clock)
        self.before_window = Once()

    async def window(self, route: str, start: float, end: float) -> RouteSignals:
        await self.before_window()
        return await super().window(route, start, end)


@dataclass
class Acting:
    """One controller with its own Redis connection and hookable stores."""

    controller: Controller
    rollouts: HookedRollouts
    routes: HookedRoutes
    tables: HookedTables
    signals: HookedSignals


async def no_lags() -> None:
    return None


@dataclass
class World:
    redis_url: str
    namespace: str
    clock: Clock
    stack: AsyncExitStack
    store: RedisRouteStore
    rollouts: RedisRolloutStore
    ops: Operations
    recorder: SignalRecorder

    async def connect(self, url: str | None = None) -> Redis:
        redis = Redis.from_url(url or self.redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.stack.push_async_callback(redis.aclose)
        return redis

    async def controller(self, owner: str, url: str | None = None) -> Acting:
        """A controller on a Redis connection of its own, as a second process would have."""
        redis = await self.connect(url)
        rollouts = HookedRollouts(redis, self.namespace)
        routes = HookedRoutes(redis, self.namespace)
        tables = HookedTables(routes, FILE, no_lags, 5.0)
        signals = HookedSignals(redis, self.namespace, self.clock)
        http = await self.stack.enter_async_context(httpx.AsyncClient())
        controller = Controller(
            rollouts=rollouts,
            tables=tables,
            signals=signals,
            owner=owner,
            http=http,
            clock=self.clock,
            lease_s=LEASE_S,
        )
        return Acting(controller, rollouts, routes, tables, signals)

    async def feed(self, errors: int = 0) -> None:
        """One second of traffic on each route: legacy 60 at 20 ms, extracted 30 at 15 ms,
        `errors` of them 503s."""
        for route in SHELF:
            for _ in range(60):
                self.recorder.record(route, "legacy", 200, 0.020)
            for n in range(30):
                self.recorder.record(route, "extracted", 503 if n < errors else 200, 0.015)
        await self.recorder.flush()

    async def second(self, acting: Acting, errors: int = 0) -> bool:
        """One simulated second: its traffic, one tick, then the clock moves on."""
        await self.feed(errors)
        acted = await acting.controller.tick()
        self.clock.now += 1
        return acted

    async def run_until(
        self, acting: Acting, done: Callable[[], Awaitable[bool]], errors: int = 0, limit: int = 60
    ) -> None:
        for _ in range(limit):
            if await done():
                return
            await self.second(acting, errors)
        raise AssertionError(f"not done within {limit} simulated seconds")

    async def rollout(self) -> Rollout:
        found = await self.rollouts.get("shelf")
        assert found is not None
        return found

    async def weights(self) -> dict[str, tuple[str, float]]:
        table = await changes.load(self.store, UPSTREAMS)
        return {name: _at(table, name) for name in SHELF}

    async def at_weight(self, weight: float) -> bool:
        return set((await self.weights()).values()) == {("canary", weight)}

    async def entries(self) -> list[Document]:
        return [e for e in await self.store.audit(1000) if e["action"] != "seed"]


def _at(table: RouteTable, name: str) -> tuple[str, float]:
    route = table.get(name)
    assert route is not None
    return route.mode.value, route.weight


@pytest.fixture
async def world(redis_url: str) -> AsyncIterator[World]:
    namespace = f"test-rollouts-{uuid.uuid4().hex[:12]}"
    clock = Clock()
    async with AsyncExitStack() as stack:
        redis = Redis.from_url(redis_url)
        stack.push_async_callback(redis.aclose)
        store = RedisRouteStore(redis, namespace)
        await changes.seed(store, FILE)
        rollouts = RedisRolloutStore(redis, namespace)
        ops = Operations(rollouts, Tables(store, FILE, no_lags, 5.0), clock=clock)
        recorder = SignalRecorder(RedisSignalStore(redis, namespace, clock), clock=clock)
        yield World(redis_url, namespace, clock, stack, store, rollouts, ops, recorder)
        await redis.delete(*[k async for k in redis.scan_iter(f"{namespace}:*")] or ["-"])


async def test_a_group_moves_in_one_version_per_step_and_back_to_legacy_in_one(
    world: World,
) -> None:
    await world.ops.start(SPEC, actor="alice", reason="both shelves")
    acting = await world.controller("one")
    await world.run_until(acting, lambda: world.at_weight(50))
    failing_from = world.clock.now
    await world.run_until(
        acting, lambda: _status(world, "aborted"), errors=10, limit=int(INTERVAL_S) + 2
    )
    # rolled back within one interval of the first failing second
    assert world.clock.now - failing_from <= INTERVAL_S + 1

    entries = await world.entries()
    assert [(e["action"], e["route"]) for e in entries] == [
        ("rollout-start", "shelf"),
        ("rollout-step", "shelf"),
        ("rollout-step", "shelf"),
        ("rollout-rollback", "shelf"),
    ]
    assert await world.store.version() == 1 + len(entries)  # one version per entry
    for entry, expected in zip(
        entries[1:], [("canary", 10), ("canary", 50), ("legacy", 0)], strict=True
    ):
        stored = await world.store.at(entry["version"])
        assert stored is not None
        assert {r["name"]: (r["mode"], r["weight"]) for r in stored["routes"]} == dict.fromkeys(
            SHELF, expected
        )
    rollback = entries[-1]
    assert rollback["gate"] == "errors<=1%" and rollback["weight"] == 50
    failed = {(v["route"], v["gate"]) for v in rollback["verdicts"]}
    assert failed == {("products", "errors<=1%"), ("stock", "errors<=1%")}
    assert all(v["value"] > 0.01 and v["threshold"] == 0.01 for v in rollback["verdicts"])
    assert rollback["reason"].startswith("rollout shelf: gate errors<=1% failed 2 checks")


async def _status(world: World, status: str) -> bool:
    return (await world.rollout()).status == status


async def test_two_controllers_one_acts_and_the_other_goes_on_from_the_same_step(
    world: World,
) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    one, two = await world.controller("one"), await world.controller("two")
    turns = []
    for _ in range(6):
        await world.feed()
        turns.append((await one.controller.tick(), await two.controller.tick()))
        world.clock.now += 1
    assert turns == [(True, False)] * 6
    assert await world.at_weight(50)
    held = await world.rollout()

    # `one` stops renewing (a stalled process): `two` waits out the lease, then goes on
    assert await two.controller.tick() is False
    await asyncio.sleep(LEASE_S + 0.2)
    await world.run_until(two, lambda: world.at_weight(100))
    assert (await world.rollout()).step == held.step + 1
    steps = [e for e in await world.entries() if e["action"] == "rollout-step"]
    assert [(e["weight"], e["controller"]) for e in steps] == [
        (10, "one"),
        (50, "one"),
        (100, "two"),
    ]
    assert await one.controller.tick() is False  # and `one`, back, waits in turn


async def test_a_controller_that_lost_the_lease_mid_tick_writes_nothing(world: World) -> None:
    """`one` decides to promote on a check it read, stalls past its lease, and wakes after
    `two` took over and saw the gates fail: neither the table nor the state is `one`'s."""
    await world.ops.start(SPEC, actor="alice", reason="r")
    one, two = await world.controller("one"), await world.controller("two")
    await world.run_until(one, lambda: world.at_weight(100))
    last_step = (await world.rollout()).step_started_at
    assert last_step is not None
    while world.clock.now < last_step + INTERVAL_S:
        await world.feed()
        world.clock.now += 1  # `one`'s next check covers the whole interval

    async def stall_while_two_takes_over() -> None:
        await asyncio.sleep(LEASE_S + 0.2)
        await world.feed(errors=30)  # the second `one` reads no more of: it failed
        world.clock.now += 1
        assert await two.controller.tick() is True
        assert (await world.rollout()).failures == 1

    one.signals.before_window.hook = stall_while_two_takes_over
    before = await world.rollout()
    await one.controller.tick()
    assert one.signals.before_window.hook is None  # it did stall mid-tick

    assert await world.at_weight(100)  # not promoted by the controller that lost the lease
    assert [e["action"] for e in await world.entries()][-1] == "rollout-step"
    after = await world.rollout()
    assert (after.rev, after.failures, after.status) == (before.rev + 1, 1, "running")
    assert after.note.startswith("failing (1 of 2 checks)")


ABORT_LANDS = ["after-the-state-read", "after-the-table-read", "after-the-step-moved"]


@pytest.mark.parametrize("where", ABORT_LANDS)
async def test_an_abort_racing_the_controllers_step_ends_in_legacy(
    world: World, where: str
) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    acting = await world.controller("one")

    async def abort() -> None:
        await world.ops.abort("shelf", actor="bob", reason="saw errors in the logs")

    hooks = {
        "after-the-state-read": acting.rollouts.after_all,
        "after-the-table-read": acting.tables.after_live,
        "after-the-step-moved": acting.routes.after_commit,
    }
    hooks[where].hook = abort
    await world.second(acting)  # the controller takes the first step, the abort lands in it
    await world.run_until(acting, lambda: _status(world, "aborted"), limit=1)
    for _ in range(5):
        await world.second(acting)

    assert await world.weights() == dict.fromkeys(SHELF, ("legacy", 0.0))
    actions = [e["action"] for e in await world.entries()]
    if where == "after-the-step-moved":  # the step landed first, the abort after it
        assert actions == ["rollout-start", "rollout-step", "rollout-abort"]
    else:
        assert actions == ["rollout-start", "rollout-abort"]
    rollout = await world.rollout()
    assert rollout.status == "aborted" and "bob" in rollout.note


async def test_a_table_written_around_the_admin_api_holds_the_rollout(world: World) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    acting = await world.controller("one")
    await world.run_until(acting, lambda: world.at_weight(10))
    redis = await world.connect()
    version = await world.store.version()
    forged = {**(await world.store.table() or {}), "version": version + 1}
    for route in forged["routes"]:
        route.update(mode="extracted", weight=100)
    for raw in (json.dumps(forged), "{not json"):  # no audit entry; then not even JSON
        await redis.set(f"{world.namespace}:table", raw)
        for _ in range(2 * int(INTERVAL_S)):
            assert await world.second(acting) is True  # never raises out of the tick
        rollout = await world.rollout()
        assert rollout.status == "running" and rollout.note.startswith("holds:"), rollout.note
        assert await world.store.version() == version  # the controller wrote no table
    # a rollback to the step's audited version replaces it: the rollout goes on from there
    await changes.rollback(
        world.store, version, upstreams=UPSTREAMS, actor="bob", reason="forged table"
    )
    await world.run_until(acting, lambda: world.at_weight(50), limit=2 * int(INTERVAL_S))


class Relay:
    """A TCP relay to Redis that a test can cut (every connection closed, none accepted):
    Redis gone, for the controller behind it only."""

    def __init__(self, target: str) -> None:
        url = httpx.URL(target.replace("redis://", "http://"))
        self._target = (url.host, url.port or 6379)
        self.port = free_port_base()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._open):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._open |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._open -= {writer, up_writer}


async def test_redis_lost_between_a_rollback_and_its_state_ends_aborted_not_paused(
    world: World,
) -> None:
    """The controller moved the routes back to legacy, then Redis went away before it saved
    the rollout as rolled back: back, it finishes the rollback, and `resume` is refused
    (a paused rollout would let an operator send traffic back to the failing candidate)."""
    await world.ops.start(SPEC, actor="alice", reason="r")
    relay = Relay(world.redis_url)
    await relay.start()
    world.stack.push_async_callback(relay.cut)
    acting = await world.controller("one", url=relay.url)
    await world.run_until(acting, lambda: world.at_weight(10))
    acting.routes.after_commit.hook = relay.cut  # Redis is gone right after the rollback
    with pytest.raises(RedisError):
        await world.run_until(acting, lambda: _status(world, "aborted"), errors=10, limit=10)
    assert await world.weights() == dict.fromkeys(SHELF, ("legacy", 0.0))
    assert (await world.rollout()).status == "running"  # the state was not saved

    await relay.start()  # Redis is back
    for _ in range(3):
        await world.second(acting)
    rollout = await world.rollout()
    assert rollout.status == "aborted", rollout.note
    assert "errors<=1%" in rollout.note
    with pytest.raises(changes.ChangeError, match="aborted"):
        await world.ops.resume("shelf", actor="bob", reason="looks fine")
    actions = [e["action"] for e in await world.entries()]
    assert actions[-1] == "rollout-rollback" and actions.count("rollout-rollback") == 1


async def test_a_reseed_that_drops_a_route_pauses_the_rollout_and_abort_is_audited(
    world: World,
) -> None:
    await world.ops.start(SPEC, actor="alice", reason="r")
    acting = await world.controller("one")
    await world.run_until(acting, lambda: world.at_weight(10))
    # a new routes file without `stock` (nor the group), seeded into a fresh table
    redis = await world.connect()
    await redis.delete(
        *(f"{world.namespace}:{k}" for k in ("version", "table", "history", "audit"))
    )
    reseeded = RouteTable.from_dict(
        {"upstreams": UPSTREAMS, "routes": [FILE.to_stored()["routes"][0]]}
    )
    await changes.seed(world.store, reseeded)
    for _ in range(3):
        await world.second(acting)
    rollout = await world.rollout()
    assert rollout.status == "paused" and "stock" in rollout.note, rollout.note

    with pytest.raises(changes.ChangeError) as refused:
        await world.ops.resume("shelf", actor="bob", reason="go on")
    assert refused.value.status in (404, 409, 422)
    assert (await world.rollout()).status == "paused"  # refused before anything was written
    aborted = await world.ops.abort("shelf", actor="bob", reason="stock is gone")
    assert aborted.status == "aborted"
    entry = (await world.store.audit(1))[-1]
    assert (entry["action"], entry["actor"], entry["reason"]) == (
        "rollout-abort",
        "bob",
        "stock is gone",
    )
    table = await changes.load(world.store, UPSTREAMS)
    assert _at(table, "products") == ("legacy", 0.0)


class CheckServer:
    """A pre-promotion check's endpoint: answers `answer` (raw HTTP status line and
    headers) to every request."""

    def __init__(self) -> None:
        self.port = free_port_base()
        self.answer = "302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/"
        self.asked = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ready"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.asked += 1
        writer.write(
            f"HTTP/1.1 {self.answer}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


async def test_a_check_that_redirects_is_not_followed_and_holds_the_promotion(
    world: World,
) -> None:
    server = CheckServer()
    await server.start()
    world.stack.push_async_callback(server.stop)
    await world.ops.start(
        {**SPEC, "steps": [50, 100], "checks": [server.url]}, actor="alice", reason="r"
    )
    acting = await world.controller("one")
    await world.run_until(acting, lambda: world.at_weight(100))
    for _ in range(3 * int(INTERVAL_S)):
        await world.second(acting)
    rollout = await world.rollout()
    assert rollout.status == "running" and await world.at_weight(100)
    assert rollout.note == f"waiting for pre-promotion checks: {server.url}: 302"
    asked = server.asked
    assert asked >= 1  # asked, and the redirect to the metadata address not followed

    server.answer = "200 OK"
    await world.run_until(acting, lambda: _status(world, "succeeded"), limit=3)
    assert (await world.weights()) == dict.fromkeys(SHELF, ("extracted", 100.0))
    assert server.asked == asked + 1


async def test_the_controller_process_outlives_a_rollout_it_cannot_read(
    world: World, tmp_path: Path
) -> None:
    """A stored rollout that no longer reads (written around the API, or by a version that
    allowed what this one refuses) fails each tick, and the controller goes on ticking:
    an exception out of its loop is a crash loop under the runner."""
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES_FILE)
    settings = GatewaySettings.from_env(
        {
            "GATEWAY_REDIS_URL": world.redis_url,
            "GATEWAY_NAMESPACE": world.namespace,
            "GATEWAY_ROUTES_FILE": str(routes),
        }
    )
    redis = await world.connect()
    key = f"{world.namespace}:rollouts"
    stop = asyncio.Event()
    own = ControllerSettings(tick_s=0.05, lease_s=LEASE_S)
    task = asyncio.create_task(run(settings, own, stop))
    try:
        for unreadable in ("{not json", json.dumps({"spec": {"route": "products"}})):
            await redis.hset(key, "products", unreadable)
            await asyncio.sleep(0.5)
            assert not task.done(), task.exception()
        await redis.hdel(key, "products")
        await world.ops.start(SPEC, actor="alice", reason="r")
        for _ in range(40):
            if await world.at_weight(10):
                break
            await asyncio.sleep(0.1)
        assert await world.at_weight(10)  # and it goes on with what it can read
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_rollout_that_does_not_read_holds_no_other_and_no_listing(world: World) -> None:
    redis = await world.connect()
    await redis.hset(f"{world.namespace}:rollouts", "elsewhere", "{not json")
    await world.ops.start(SPEC, actor="alice", reason="r")
    assert [r.name for r in await world.rollouts.all()] == ["shelf"]
    acting = await world.controller("one")
    await world.run_until(acting, lambda: world.at_weight(10))
