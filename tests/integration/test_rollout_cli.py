"""`strangler rollout ...` against a real gateway process, as an operator types it: each
command says what the rollout is doing in a few readable lines, and a refusal exits non-zero
with the gateway's reason, never a traceback. Checks come from a controller ticking in this
process on the gateway's Redis, with signals fed in as the gateway would record them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from gateway.rollouts.controller import Controller
from gateway.rollouts.moves import Tables
from gateway.rollouts.state import RedisRolloutStore
from gateway.routes import RouteTable
from gateway.signals import RedisSignalStore, SignalRecorder
from gateway.store import RedisRouteStore
from tests.integration.gateways import GatewayProcess

pytestmark = pytest.mark.e2e

Start = Callable[..., GatewayProcess]
START = ("rollout", "start", "orders", "--steps", "5,50", "--interval", "10s")
GATES = ("--gate", "errors<=1%", "--gate", "p99<=250ms", "--min-requests", "20")


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def refused(done: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def route(gw: GatewayProcess) -> tuple[str, float]:
    found = gw.admin.get("/routes/orders").json()
    return found["mode"], found["weight"]


async def one_check(gw: GatewayProcess, routes_file: Path) -> None:
    """A controller's first two ticks: the first step into the table, then a check of it
    over a second of healthy signals."""
    redis = Redis.from_url(gw.store_url)
    try:
        declared = RouteTable.from_dict(tomllib.loads(routes_file.read_text()), version=0)

        async def no_lags() -> None:
            return None

        async with httpx.AsyncClient() as http:
            controller = Controller(
                rollouts=RedisRolloutStore(redis, gw.namespace),
                tables=Tables(RedisRouteStore(redis, gw.namespace), declared, no_lags, 5.0),
                signals=RedisSignalStore(redis, gw.namespace),
                owner="cli-test",
                http=http,
            )
            assert await controller.tick()  # the first step
            recorder = SignalRecorder(RedisSignalStore(redis, gw.namespace))
            await asyncio.sleep(1.1)  # a whole second inside the step
            for _ in range(50):
                recorder.record("orders", "extracted", 200, 0.012)
                recorder.record("orders", "legacy", 200, 0.020)
            await recorder.flush()
            await asyncio.sleep(1.1)  # and that second over
            assert await controller.tick()
            await RedisRolloutStore(redis, gw.namespace).release("cli-test")
    finally:
        await redis.aclose()


def test_an_operator_walks_a_rollout_with_the_cli(gateway: Start, tmp_path: Path) -> None:
    gw = gateway()
    out = ok(gw.cli(*START, *GATES, "--reason", "orders 2.0"))
    assert out.splitlines()[0] == (
        "orders: running, step 1/2 at 5% (steps 5,50, every 10 s; routes orders)"
    )
    assert "waiting for the controller to take the first step" in out
    refused(gw.cli(*START, *GATES, "--reason", "again"), 1, "error (409): rollout orders")

    asyncio.run(one_check(gw, tmp_path / "routes.toml"))
    assert route(gw) == ("canary", 5.0)
    out = ok(gw.cli("rollout", "status"))
    assert out.startswith("controller: none holds the lease\norders: running, step 1/2 at 5%")
    assert "next step in " in out and "if every gate passes" in out
    assert "last check" in out and ": pass" in out
    lines = [line.split() for line in out.splitlines() if line.startswith("    ")]
    assert [(line[0], line[1], line[2]) for line in lines] == [
        ("ok", "orders", "errors<=1%"),
        ("ok", "orders", "p99<=250ms"),
    ]
    shown = json.loads(ok(gw.cli("rollout", "status", "orders", "--json")))
    assert shown["last_check"]["outcome"] == "pass" and shown["weight"] == 5

    out = ok(gw.cli("rollout", "pause", "orders", "--reason", "lunch"))
    assert out.startswith("orders: paused") and "pause by " in out and "lunch" in out
    refused(gw.cli("rollout", "pause", "orders", "--reason", "again"), 1, "it cannot pause")
    assert ok(gw.cli("rollout", "resume", "orders", "--reason", "back")).startswith(
        "orders: running"
    )
    out = ok(gw.cli("rollout", "promote", "orders", "--reason", "verified by hand"))
    assert out.startswith("orders: promoted") and route(gw) == ("extracted", 100.0)
    refused(
        gw.cli("rollout", "abort", "orders", "--reason", "too late"),
        1,
        "error (409): rollout orders is promoted: it cannot abort",
    )
    actions = [e["action"] for e in gw.admin.get("/audit").json()["entries"]]
    assert actions[-5:] == [
        "rollout-start",
        "rollout-step",
        "rollout-pause",
        "rollout-resume",
        "rollout-promote",
    ]


def test_abort_and_promote_are_read_back_at_once_from_the_same_gateway(gateway: Start) -> None:
    """Like every other admin change: the gateway that made it serves it before it answers,
    not at its next poll of the table (30 s here)."""
    gw = gateway(GATEWAY_POLL_INTERVAL_S="30")
    gw.set("orders", mode="canary", weight=30)
    ok(gw.cli(*START, *GATES, "--reason", "r"))
    out = ok(gw.cli("rollout", "abort", "orders", "--reason", "saw errors"))
    assert out.startswith("orders: aborted") and "saw errors" in out
    assert route(gw) == ("legacy", 0.0)
    assert ok(gw.cli("routes", "list")).splitlines()[2].split()[:3] == ["orders", "legacy", "0"]
    ok(gw.cli(*START, *GATES, "--reason", "again"))
    ok(gw.cli("rollout", "promote", "orders", "--reason", "verified by hand"))
    assert route(gw) == ("extracted", 100.0)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        ((*START, "--group", "g", "--reason", "r"), 2, "name a route, or give --group"),
        (("rollout", "start", "nope", "--reason", "r"), 1, "error (404): no route named 'nope'"),
        ((*START, "--gate", "latency<1s", "--reason", "r"), 1, "error (400): gate 'latency<1s'"),
        ((*START, "--steps", "50,5", "--reason", "r"), 1, "error (400): steps [50.0, 5.0]"),
        ((*START, "--reason", " "), 1, "error (400): a non-empty 'reason' is required"),
        (("rollout", "status", "nope"), 1, "error (404): no rollout named 'nope'"),
        (("rollout", "resume", "nope", "--reason", "r"), 1, "error (404): no rollout named"),
    ],
    ids=[
        "route-and-group",
        "unknown-route",
        "bad-gate",
        "falling-steps",
        "blank-reason",
        "status-unknown",
        "resume-unknown",
    ],
)
def test_a_refused_command_exits_non_zero_saying_why(
    gateway: Start, args: tuple[str, ...], code: int, says: str
) -> None:
    gw = gateway()
    refused(gw.cli(*args), code, says)
    assert gw.admin.get("/rollouts").json()["rollouts"] == []


ROLLOUT = """
[rollout]
route = "orders"
steps = [5, 25, 100]
interval = "20s"
gates = ["errors<=0.5%", "p99<=1.2x legacy"]
min_requests = 50
reason = "orders 2.0, from the file"
"""


def test_apply_starts_the_rollout_a_file_declares(gateway: Start, tmp_path: Path) -> None:
    gw = gateway()
    declared = tmp_path / "rollout.toml"
    declared.write_text(ROLLOUT)
    out = ok(gw.cli("rollout", "apply", str(declared)))
    assert out.splitlines()[0] == (
        "orders: running, step 1/3 at 5% (steps 5,25,100, every 20 s; routes orders)"
    )
    spec = gw.admin.get("/rollouts/orders").json()["spec"]
    assert spec["gates"] == ["errors<=0.5%", "p99<=1.2x legacy"] and spec["min_requests"] == 50
    entry = gw.admin.get("/audit", params={"limit": 1}).json()["entries"][-1]
    assert (entry["action"], entry["reason"]) == ("rollout-start", "orders 2.0, from the file")


@pytest.mark.parametrize(
    ("content", "code", "says"),
    [
        (b"[rollout\nroute = 'orders'", 2, "cannot read"),
        (b"route = 'orders'\nsteps = [5]\n", 2, "has no [rollout] table"),
        (b"[[rollout]]\nroute = 'orders'\n", 2, "has no [rollout] table"),
        (b"[rollout]\nroute = 'caf\xe9'\n", 2, "cannot read"),  # Latin-1, not UTF-8
        (None, 2, "cannot read"),
        (ROLLOUT.replace("reason", "# reason").encode(), 1, "'reason' is required"),
        (ROLLOUT.replace("5, 25", "25, 5").encode(), 1, "error (400): steps"),
        (ROLLOUT.replace("[rollout]", "[rollout]\ncolour = 'blue'").encode(), 1, "colour"),
    ],
    ids=[
        "malformed",
        "no-table",
        "array-of-tables",
        "not-utf-8",
        "missing-file",
        "no-reason",
        "falling-steps",
        "unknown-setting",
    ],
)
def test_apply_refuses_a_file_it_cannot_use(
    gateway: Start, tmp_path: Path, content: bytes | None, code: int, says: str
) -> None:
    gw = gateway()
    declared = tmp_path / "rollout.toml"
    if content is not None:
        declared.write_bytes(content)
    refused(gw.cli("rollout", "apply", str(declared)), code, says)
    assert gw.admin.get("/rollouts").json()["rollouts"] == []
