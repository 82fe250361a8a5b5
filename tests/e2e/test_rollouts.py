"""Metric-gated rollouts on the running stack, as an operator runs them: `strangler rollout
start products ...` under a steady load of product reads through the gateway, with the shipped
route table and the stack's own controller. A healthy catalog walks every step with every gate
seen passing and no client request failing, even when the acting controller is killed -9
mid-rollout (the standby takes the lease and goes on from the step it was in); a catalog with
a fault injected at 25% is rolled back to legacy by the controller within two intervals, and
the audit entry names the gate.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
import pytest

from strangler.parts import plan
from strangler.runner import running
from tests.e2e.shop import Shop

pytestmark = pytest.mark.e2e
Json = dict[str, Any]
INTERVAL_S = 3.0
STEPS = "5,25,50,100"
GATES = ("parity>=0.99", "errors<=1%", "p99<=250ms")
MIN_REQUESTS = 5
RATE = 60  # product reads a second, through the gateway


@dataclass
class Load:
    """Paced product reads through the gateway from a few threads: every answer's status, and
    how many carried the fault header (a request the fault drew, answered by the fallback)."""

    public: httpx.Client
    products: list[int]
    statuses: Counter[int] = field(default_factory=Counter)
    faulted: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, threads: int = 12) -> list[threading.Thread]:
        workers = [threading.Thread(target=self._read, args=(threads,)) for _ in range(threads)]
        for worker in workers:
            worker.start()
        return workers

    def _read(self, threads: int) -> None:
        pause = threads / RATE
        rng = random.Random()
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                answer = self.public.get(f"/products/{rng.choice(self.products)}")
                status, faulted = answer.status_code, "x-strangler-fault" in answer.headers
            except httpx.HTTPError:
                status, faulted = 0, False
            with self.lock:
                self.statuses[status] += 1
                self.faulted += faulted
            time.sleep(max(0.0, pause - (time.monotonic() - started)))

    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status == 0 or status >= 500)


@contextmanager
def reading(shop: Shop, products: list[int]) -> Iterator[Load]:
    load = Load(shop.public, products)
    workers = load.run()
    try:
        yield load
    finally:
        load.stop.set()
        for worker in workers:
            worker.join()


def rollout(shop: Shop) -> Json:
    answer = shop.admin.get("/rollouts/products")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def route(shop: Shop) -> Json:
    return dict(shop.admin.get("/routes/products").json())


def start(shop: Shop, reason: str) -> None:
    args = ["rollout", "start", "products", "--steps", STEPS, "--interval", f"{INTERVAL_S:g}s"]
    for gate in GATES:
        args += ["--gate", gate]
    done = shop.cli(*args, "--min-requests", str(MIN_REQUESTS), "--reason", reason)
    assert done.returncode == 0, done.stderr


def watch(shop: Shop, until: Any, timeout_s: float) -> list[Json]:
    """Every distinct check the rollout's status showed (the operator's live view), until
    `until(rollout)` holds."""
    seen: list[Json] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = rollout(shop)
        check = state.get("last_check")
        if check and (not seen or seen[-1]["check"]["at"] != check["at"]):
            seen.append({"step": check["step"], "weight": check["weight"], "check": check})
        if until(state):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"rollout still {rollout(shop)['status']}: {rollout(shop)['note']}")


def products_for(shop: Shop, count: int = 400) -> list[int]:
    """Products to read: enough of them that each step's share of keys (5% of 400: about 20)
    is the share of requests it gets, whichever ids they are."""
    return [
        p["product_id"] for p in shop.buyers_in_bulk(count, stock=50, price_cents=900, quantity=1)
    ]


def back_to_legacy(shop: Shop) -> None:
    shop.route("products", mode="legacy", weight=0, canary_mirror=False, fault=None)


@contextmanager
def standby_controller(shop: Shop) -> Iterator[int]:
    """A second controller process beside the stack's own (same settings, no metrics port);
    the stack's own is started again afterwards if the test killed it."""
    part = next(p for p in plan(shop.settings) if p.name == "rollouts")
    env = {k: v for k, v in part.env.items() if not k.startswith("ROLLOUT_METRICS")}
    standby = replace(part, name="rollouts-standby", ports=(), env=env)
    try:
        with running(standby, shop.settings.home) as process:
            yield process.pid
    finally:
        shop.stack.up()  # starts again what is not running


def holder_pid(shop: Shop) -> int:
    holder = shop.admin.get("/rollouts").json()["controller"]
    assert holder, "no controller holds the lease"
    return int(holder.split(":")[1])


def test_a_healthy_catalog_walks_every_step_with_every_gate_passing_through_a_controller_kill(
    shop: Shop,
) -> None:
    products = products_for(shop)
    try:
        with standby_controller(shop), reading(shop, products) as load:
            start(shop, "catalog ready")
            seen = watch(shop, lambda r: r["weight"] >= 25 and r["applied"], 60)
            acting = holder_pid(shop)
            assert acting == shop.stack.pids()["rollouts"]  # it held the lease before
            os.kill(acting, signal.SIGKILL)  # mid-rollout, holding the lease
            killed_at = time.time()
            seen += watch(shop, lambda r: r["status"] != "running", 90)
        final = rollout(shop)
        entries = shop.admin.get("/audit", params={"limit": 50}).json()["entries"]
    finally:
        back_to_legacy(shop)
    print(f"client answers: {dict(load.statuses)}")
    for s in seen:
        verdicts = "; ".join(
            f"{v['gate']}: {v['outcome']} ({v['detail']})" for v in s["check"]["verdicts"]
        )
        print(f"step {s['step'] + 1} at {s['weight']:g}%: {s['check']['outcome']}: {verdicts}")
    assert final["status"] == "succeeded", final["note"]
    assert load.failed() == 0, load.statuses
    steps = [e for e in entries if e["action"] == "rollout-step" and e.get("rollout") == "products"]
    steps = steps[-4:]
    assert [e["weight"] for e in steps] == [5, 25, 50, 100]  # each once, none skipped
    done = entries[-1] if entries[-1]["action"] == "rollout-complete" else None
    assert done is not None, [e["action"] for e in entries[-6:]]
    # every step was left on a check that saw every gate pass over a whole interval
    for weight in (5, 25, 50, 100):
        passing = [
            s
            for s in seen
            if s["weight"] == weight
            and s["check"]["outcome"] == "pass"
            and s["check"]["whole_interval"]
        ]
        assert passing or weight == 5, f"no passing whole-interval check seen at {weight}%"
        for s in passing:
            assert {v["gate"] for v in s["check"]["verdicts"]} == set(GATES)
            assert all(v["outcome"] == "pass" for v in s["check"]["verdicts"])
    # the standby went on after the kill: whatever came after was done by the other one
    after = [e for e in entries if e.get("controller") and _at(e) > killed_at]
    assert after and all(str(acting) != e["controller"].split(":")[1] for e in after)


def _at(entry: Json) -> float:
    return datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp()


def test_a_fault_at_25_percent_is_rolled_back_within_two_intervals_naming_the_gate(
    shop: Shop,
) -> None:
    products = products_for(shop)
    try:
        with reading(shop, products) as load:
            start(shop, "catalog 1.5, drill")
            watch(shop, lambda r: r["weight"] >= 25 and r["applied"], 60)
            requests_before = sum(load.statuses.values())
            fault = shop.cli(
                "routes",
                "fault",
                "products",
                "--abort",
                "503",
                "--percent",
                "50",
                "--for",
                "60s",
                "--reason",
                "rollback drill",
            )
            assert fault.returncode == 0, fault.stderr
            injected = time.monotonic()
            while route(shop)["mode"] != "legacy":
                assert time.monotonic() - injected < 4 * INTERVAL_S, rollout(shop)["note"]
                time.sleep(0.05)
            rolled_back_s = time.monotonic() - injected
            requests = sum(load.statuses.values()) - requests_before
        state = rollout(shop)
        entry = shop.admin.get("/audit", params={"limit": 10}).json()["entries"]
    finally:
        back_to_legacy(shop)
    rollback = next(e for e in reversed(entry) if e["action"] == "rollout-rollback")
    rate = requests / max(rolled_back_s, 0.001)
    bound = 0.25 * 0.50 * rate * rolled_back_s
    print(
        f"rolled back {rolled_back_s:.2f} s after the fault ({rolled_back_s / INTERVAL_S:.2f} "
        f"intervals); client errors {load.failed()}, faulted answers {load.faulted}; bound "
        f"weight x fault rate x requests = 0.25 x 0.50 x {requests} = {bound:.1f}"
    )
    assert rolled_back_s <= 2 * INTERVAL_S
    assert state["status"] == "aborted"
    assert "errors" in rollback["gate"] and rollback["actor"] == "rollout-controller"
    assert rollback["weight"] == 25
    assert load.failed() <= bound
    assert load.faulted <= 2 * bound + 10  # the faults drawn were about that share
