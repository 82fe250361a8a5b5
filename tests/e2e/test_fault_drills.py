"""Fault drills: a part of the running stack crashes (kill -9) while the shop serves, and what a
customer or an operator would notice is checked afterwards. Each drill brings the stack back
with `strangler up`, as an operator would, and leaves it as it found it.

new_services/README.md ("Failure modes") lists what each drill shows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import text

from tests.contract.support import card_token, money_taken
from tests.e2e.shop import STRANGLER, Shop, group_members

pytestmark = pytest.mark.e2e

Json = dict[str, Any]


@pytest.fixture
def services_checkout(shop: Shop) -> Iterator[Shop]:
    """Checkout on the extracted path (its events feed the workers), put back afterwards."""
    shop.route("carts-and-checkout", mode="extracted")
    try:
        yield shop
    finally:
        shop.route("carts-and-checkout", mode="legacy")


def statuses(shop: Shop) -> dict[str, Json]:
    listed = shop.cli("status", "--json")
    return {part["name"]: part for part in json.loads(listed.stdout)}


def bring_back(shop: Shop) -> str:
    """`strangler up`, as an operator types it after a crash: it must succeed."""
    up = shop.cli("up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert all(part["healthy"] for part in statuses(shop).values()), statuses(shop)
    return up.stdout


def checkout(shop: Shop, token: str) -> tuple[Json, Json]:
    """A new buyer's checkout through the gateway: the buyer and the order."""
    return checkout_as(shop, shop.buyer_with(shop.product(stock=5)), token)


def checkout_as(shop: Shop, buyer: Json, token: str) -> tuple[Json, Json]:
    placed = shop.public.post(f"/users/{buyer['id']}/checkout", json={"card_token": token})
    assert placed.status_code == 201, placed.text
    return buyer, dict(placed.json())


def money_adds_up(shop: Shop, token: str, order: Json) -> None:
    """The customer's view of one checkout's money: one charge, and either the order stands
    and nothing is refunded, or the order is gone and the charge refunded once, in full."""
    [charge] = money_taken(shop.provider.charges(token))
    refunds = shop.provider.refunds(charge["id"])
    standing = shop.public.get(f"/orders/{order['id']}").status_code
    if standing == 200:
        assert (charge["refunded_cents"], refunds) == (0, []), (charge, refunds)
    else:
        assert standing == 404
        assert [r["amount_cents"] for r in refunds] == [charge["amount_cents"]], refunds
        assert charge["refunded_cents"] == charge["amount_cents"]


def backlog(shop: Shop) -> list[str]:
    """What the relay says is waiting (for a failed drill's message)."""
    metrics = httpx.get(f"http://127.0.0.1:{shop.settings.port('relay-metrics')}/metrics").text
    return [line for line in metrics.splitlines() if line.startswith("outbox_")]


def stock_of(shop: Shop, product_id: int) -> int:
    """From the table: legacy's product cache misses the catalog's writes (global-cache)."""
    with shop.engine.connect() as conn:
        query = text("SELECT stock FROM products WHERE id = :id")
        return int(conn.execute(query, {"id": product_id}).scalar_one())


def drained(shop: Shop, queue: str, timeout_s: float = 30) -> None:
    with Redis.from_url(shop.settings.shop_redis_url) as redis:
        jobs = Queue(f"{shop.settings.namespace}-{queue}", connection=redis)
        deadline = time.monotonic() + timeout_s
        while jobs.count or jobs.started_job_registry.count:
            assert time.monotonic() < deadline, f"{jobs.count} jobs still queued on {queue}"
            time.sleep(0.1)


def test_a_killed_worker_is_reported_dead_at_once_and_up_restarts_it_and_what_it_left(
    services_checkout: Shop,
) -> None:
    """kill -9 of the pid `strangler status` shows for a worker: its RQ scheduler lives on
    in its process group. `status` must not call it healthy, `up` must not say "already
    running": it stops the leftovers and starts the worker, and the queue moves again."""
    shop = services_checkout
    pid = statuses(shop)["analytics-worker"]["pid"]
    assert group_members({pid}) - {pid}, "the worker runs its scheduler in a process of its own"
    os.kill(pid, signal.SIGKILL)

    assert shop.cli("status").returncode == 1
    dead = statuses(shop)["analytics-worker"]
    assert (dead["running"], dead["healthy"]) == (False, False), dead
    said = bring_back(shop)
    assert f"analytics-worker: its process {pid} died; stopping what it left running" in said
    assert group_members({pid}) == set()
    assert statuses(shop)["analytics-worker"]["pid"] not in (None, pid)
    checkout(shop, card_token())
    drained(shop, "analytics")


def test_a_redis_crash_keeps_the_kill_switch_its_audit_entry_and_the_sales_totals(
    services_checkout: Shop,
) -> None:
    """The runner's own Redis (not there when the stack uses a Redis of the machine) is
    killed two seconds after a kill switch, with the analytics totals just updated. After
    `strangler up` (which waits for the parts that reconnect by themselves), the route table,
    the audit log and the totals are what they were, and the shop sells again."""
    shop = services_checkout
    if "redis" not in statuses(shop):
        pytest.skip("the stack uses the machine's Redis: the runner's own Redis is not there")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    report = f"{shop.settings.url('analytics')}/v2/reports/sales?from={today}&to={today}"
    orders = httpx.get(report).json()["order_count"]
    checkout(shop, card_token())
    deadline = time.monotonic() + 30
    while (totals := httpx.get(report).json())["order_count"] == orders:
        assert time.monotonic() < deadline, "the order never reached the sales totals"
        time.sleep(0.1)
    assert shop.admin.post("/kill", json={"reason": "drill"}).status_code == 200
    table, audit = shop.admin.get("/routes").json(), shop.admin.get("/audit").json()
    time.sleep(2)

    redis = statuses(shop)["redis"]["pid"]
    os.killpg(redis, signal.SIGKILL)
    while group_members({redis}):
        time.sleep(0.05)
    bring_back(shop)

    assert shop.admin.get("/routes").json() == table
    assert shop.admin.get("/audit").json() == audit
    assert httpx.get(report).json() == totals
    rollback = {"version": audit["entries"][-2]["version"], "reason": "drill over"}
    assert shop.admin.post("/rollback", json=rollback).status_code == 200
    checkout(shop, card_token())
    drained(shop, "analytics")


def test_e_mails_in_flight_when_the_notifications_worker_dies_come_within_a_minute_once(
    services_checkout: Shop,
) -> None:
    """The mail server takes 3 s to say "250": the notifications workers are killed (kill -9,
    every process of the part) while they wait for it, after the server kept the messages.
    Brought back, every order still gets its e-mail within a minute of the crash (RQ's own
    clean-up would take ten), and exactly one: a send made again is the same message, and
    the mail server keeps one per Message-ID."""
    shop = services_checkout
    pid = statuses(shop)["notifications"]["pid"]  # now: `status` takes seconds under load
    with httpx.Client(base_url=shop.settings.url("mail")) as mail:
        assert mail.put("/_admin/config", json={"delay_ms": 3000}).status_code == 200
        try:
            tokens = [card_token() for _ in range(6)]
            bought = [checkout(shop, token) for token in tokens]
            deadline = time.monotonic() + 20
            while not any(
                mail.get("/messages", params={"to": b["email"]}).json()["messages"]
                for b, _ in bought
            ):
                assert time.monotonic() < deadline, "no e-mail went out"
                time.sleep(0.05)
            os.killpg(pid, signal.SIGKILL)
            crashed = time.monotonic()
            while group_members({pid}):
                time.sleep(0.05)
        finally:
            assert mail.put("/_admin/config", json={"delay_ms": 0}).status_code == 200
        bring_back(shop)

        def received(buyer: Json) -> list[str]:
            listed = mail.get("/messages", params={"to": buyer["email"]}).json()["messages"]
            return [m["subject"] for m in listed]

        while not all(received(buyer) for buyer, _ in bought):
            assert time.monotonic() - crashed < 60, (
                [received(b) for b, _ in bought],
                backlog(shop),
            )
            time.sleep(0.2)
        time.sleep(1)  # a second copy, were one on its way
        assert [received(buyer) for buyer, _ in bought] == [
            [f"Your order #{order['id']}"] for _, order in bought
        ]
        for (_, order), token in zip(bought, tokens, strict=True):
            money_adds_up(shop, token, order)  # and one charge each, kept
    drained(shop, "notifications")


def test_a_cancel_whose_refund_answer_is_lost_says_under_way_and_finishes_once(
    services_checkout: Shop,
) -> None:
    """The provider refunds, and its answer comes after payments gave up waiting (6 s
    against 5). The cancel cannot say "nothing changed" (the money may be back): it answers
    202 `cancelling`, and the orders service finishes it by itself: refunded once, restocked,
    gone. A refund the provider says it did not make (503) still changes nothing (the
    contract suite's test_a_refund_the_provider_fails_changes_nothing)."""
    shop = services_checkout
    shop.route("orders", mode="extracted")
    try:
        token = card_token()
        _, order = checkout(shop, token)
        product = order["items"][0]["product_id"]
        stock = stock_of(shop, product)
        shop.provider.configure(latency_ms=6000)
        try:
            answer = shop.public.post(f"/orders/{order['id']}/cancel")
        finally:
            shop.provider.restore()
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "cancelling"
        assert shop.public.get(f"/orders/{order['id']}").json()["status"] == "cancelling"
        deadline = time.monotonic() + 30
        while shop.public.get(f"/orders/{order['id']}").status_code != 404:
            assert time.monotonic() < deadline, "the cancellation never finished"
            time.sleep(0.2)
        money_adds_up(shop, token, order)
        assert stock_of(shop, product) == stock + 1
    finally:
        shop.route("orders", mode="legacy")


def test_a_checkout_whose_orders_service_dies_after_the_charge_is_given_back(
    services_checkout: Shop,
) -> None:
    """The provider takes 3 s to answer a charge, and the orders service is killed (kill -9)
    once the provider has made it. Payments records the charge as captured; no order is
    ever written. Brought back, the orders service's settler gives the money back within a
    minute: one charge, refunded in full once, no order."""
    shop = services_checkout
    token = card_token()
    buyer = shop.buyer_with(shop.product(stock=5))
    # asked now: `strangler status` takes seconds under load, and asked once the charge is
    # made it let the order be written before the kill (the drill then saw a 201)
    orders = statuses(shop)["orders"]["pid"]
    shop.provider.configure(latency_ms=3000)
    try:
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(
                shop.public.post, f"/users/{buyer['id']}/checkout", json={"card_token": token}
            )
            deadline = time.monotonic() + 20
            while not shop.provider.charges(token):
                assert time.monotonic() < deadline, "the charge never reached the provider"
                time.sleep(0.02)
            os.killpg(orders, signal.SIGKILL)
            assert answer.result().status_code >= 500  # the client never hears of an order
    finally:
        shop.provider.restore()
    crashed = time.monotonic()
    bring_back(shop)
    while money_taken(shop.provider.charges(token))[0]["refunded_cents"] == 0:
        assert time.monotonic() - crashed < 60, "the charge with no order was never given back"
        time.sleep(0.5)
    [charge] = money_taken(shop.provider.charges(token))
    refunds = shop.provider.refunds(charge["id"])
    assert [r["amount_cents"] for r in refunds] == [charge["amount_cents"]]
    assert shop.public.get(f"/users/{buyer['id']}/orders").json() == {"orders": []}
    # the customer checks out again: a new order, charged once more, and kept
    _, order = checkout_as(shop, buyer, token)
    money = [c for c in money_taken(shop.provider.charges(token)) if c["refunded_cents"] == 0]
    assert [c["amount_cents"] for c in money] == [order["total_cents"]]


def test_up_watch_starts_a_part_that_dies_again_and_leaves_the_stack_up_when_stopped(
    shop: Shop, tmp_path: Path
) -> None:
    """`strangler up --watch` is the laptop stack's supervisor: a part killed (kill -9) runs
    again, healthy, a moment later, with no operator; Ctrl-C stops watching, not the stack."""
    said = tmp_path / "watch.log"
    with said.open("w") as out:
        watcher = subprocess.Popen(
            [STRANGLER, "up", "--watch"], env=shop.cli_env(), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while "watching:" not in said.read_text():
            assert watcher.poll() is None and time.monotonic() < deadline, said.read_text()
            time.sleep(0.1)
        pid = statuses(shop)["catalog"]["pid"]
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not ((now := statuses(shop)["catalog"])["healthy"] and now["pid"] != pid):
            assert time.monotonic() < deadline, said.read_text()
            time.sleep(0.2)
    finally:
        watcher.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            watcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
    output = said.read_text()
    assert watcher.returncode == 0, output
    assert "catalog: its process died; starting it again" in output
    assert "stopped watching; the stack is still up" in output
    assert all(part["healthy"] for part in statuses(shop).values())


def test_legacy_orders_taken_while_the_relay_and_the_analytics_worker_die_are_counted_once(
    shop: Shop,
) -> None:
    """Legacy takes checkouts (capture turns each into an outbox event in its transaction)
    while the outbox relay and then the analytics worker are killed (kill -9, every process
    of each). Brought back, the extracted sales report equals legacy's own: no order lost,
    none counted twice."""
    today = time.strftime("%Y-%m-%d", time.gmtime())
    path = f"/reports/sales?from={today}&to={today}"
    product = shop.product(stock=500)
    buyers = [shop.buyer_with(product) for _ in range(24)]
    relay, worker = (statuses(shop)[name]["pid"] for name in ("outbox-relay", "analytics-worker"))

    def take(some: list[Json]) -> None:
        for buyer in some:
            checkout_as(shop, buyer, card_token())

    take(buyers[:8])
    os.killpg(relay, signal.SIGKILL)
    take(buyers[8:16])  # captured, not published: the relay is dead
    os.killpg(worker, signal.SIGKILL)
    take(buyers[16:])
    while group_members({relay, worker}):
        time.sleep(0.05)
    bring_back(shop)

    legacy = httpx.get(shop.settings.url("legacy") + path).json()
    deadline = time.monotonic() + 60
    while (extracted := httpx.get(shop.settings.url("analytics") + path).json()) != legacy:
        assert time.monotonic() < deadline, (legacy, extracted, backlog(shop))
        time.sleep(0.2)
    time.sleep(1)  # a second count, were one on its way
    assert httpx.get(shop.settings.url("analytics") + path).json() == legacy
    drained(shop, "analytics")
