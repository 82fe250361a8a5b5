"""Shadow mode, comparison, the circuit breaker and metrics, with real gateway processes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.integration.gateways import GatewayProcess

# The echo upstreams differ in who they are and in what they saw; a real pair would not.
ECHO_NOISE = ["$.served_by", "$.headers", "$.writes", "$.dry_run", "$.nonce"]


def parity(gw: GatewayProcess, route: str = "orders", **at_least: int) -> dict[str, Any]:
    """The route's parity figures, once every counter has reached the given minimum."""
    deadline = time.monotonic() + 5
    while True:
        figures: dict[str, Any] = gw.admin.get("/parity").json()["routes"].get(route, {})
        if all(figures.get(k, 0) >= v for k, v in at_least.items()):
            return figures
        assert time.monotonic() < deadline, f"parity never reached {at_least}: {figures}"
        time.sleep(0.05)


def stats(upstreams: dict[str, str], side: str) -> dict[str, int]:
    result: dict[str, int] = httpx.get(f"{upstreams[side]}/_echo/stats").json()
    return result


def test_shadow_answers_from_legacy_and_compares_in_the_background(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    assert gw.set("orders", mode="shadow").status_code == 200
    for n in range(5):
        assert gw.served_by(f"/orders/{n}") == "legacy"
    mismatched = parity(gw, mismatch=5)
    assert mismatched["match"] == 0 and mismatched["parity"] == 0.0
    sample = gw.admin.get("/mismatches", params={"route": "orders"}).json()["samples"][0]
    assert "$.served_by" in sample["diff"] and sample["request"]["method"] == "GET"
    assert gw.set("orders", compare={"ignore": ECHO_NOISE}).status_code == 200
    for n in range(5):
        assert gw.served_by(f"/orders/{n}") == "legacy"
    assert parity(gw, match=5)["mismatch"] == 5


def test_a_shadowed_write_reaches_the_candidate_only_as_a_dry_run_and_leaves_no_trace(
    gateway: Callable[..., GatewayProcess], upstreams: dict[str, str]
) -> None:
    gw = gateway()
    assert gw.set("orders", mode="shadow", compare={"ignore": ECHO_NOISE}).status_code == 200
    before = stats(upstreams, "extracted")
    written = gw.public.post("/orders/1", json={"qty": 1})
    assert written.status_code == 200 and written.json()["served_by"] == "legacy"
    time.sleep(0.3)
    # without declared dry-run support the write is never mirrored at all
    assert stats(upstreams, "extracted") == before
    assert gw.set("orders", dry_run=True).status_code == 200
    for _ in range(3):
        assert gw.public.post("/orders/1", json={"qty": 1}).json()["served_by"] == "legacy"
    parity(gw, match=3)
    after = stats(upstreams, "extracted")
    assert after["requests"] == before["requests"] + 3  # it did see the three mirrors...
    assert after["writes"] == before["writes"]  # ...and, told it was a dry run, wrote nothing


def test_a_dry_run_leads_its_write_so_it_reads_the_state_legacy_is_about_to_change(
    gateway: Callable[..., GatewayProcess], upstreams: dict[str, str]
) -> None:
    # A checkout empties the cart it reads: a mirror that reached the candidate after legacy
    # had written would find an empty cart. So the dry run goes first, and the write goes to
    # legacy once it has answered.
    gw = gateway()
    changed = gw.set("orders", mode="shadow", dry_run=True, compare={"ignore": ECHO_NOISE})
    assert changed.status_code == 200
    started = time.perf_counter()
    written = gw.public.post("/orders/1?slow=extracted:150", json={"qty": 1})
    took = time.perf_counter() - started
    assert written.json()["served_by"] == "legacy" and took >= 0.15  # the price: its dry run
    assert stats(upstreams, "extracted")["last_at"] < stats(upstreams, "legacy")["last_at"]
    parity(gw, match=1)


def test_a_slow_dry_run_holds_its_write_no_longer_than_the_route_allows_and_is_not_compared(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    changed = gw.set(
        "orders", mode="shadow", dry_run=True, dry_run_wait_s=0.1, compare={"ignore": ECHO_NOISE}
    )
    assert changed.status_code == 200
    started = time.perf_counter()
    written = gw.public.post("/orders/1?slow=extracted:2000", json={"qty": 1})
    assert written.json()["served_by"] == "legacy"
    assert time.perf_counter() - started < 1.0
    # it may have read what legacy then wrote: counted late, in no parity figure
    figures = parity(gw, late=1)
    assert (figures["match"], figures["mismatch"], figures["parity"]) == (0, 0, None)


def test_a_read_that_differs_because_the_state_moved_is_not_a_mismatch(
    gateway: Callable[..., GatewayProcess],
) -> None:
    """Both echoes read one count that legacy's POST /bump raises, as both sides of a route
    read one database. A read is mirrored after its answer, so with bumps going on the
    candidate often reads a newer count than legacy answered: legacy, asked again, says the
    state moved, and that is never a mismatch. A candidate that is wrong where the state
    held still still is."""
    gw = gateway()
    assert gw.set("orders", mode="shadow", compare={"ignore": ECHO_NOISE}).status_code == 200
    with ThreadPoolExecutor(4) as pool:
        bumps = [pool.submit(gw.public.post, "/bump", json={}) for _ in range(300)]
        reads = [gw.served_by("/orders/1?slow=extracted:30") for _ in range(30)]
        assert all(bump.result().status_code == 200 for bump in bumps)
    # and once the bumps are over, the state holds still: those reads match
    reads += [gw.served_by("/orders/1?slow=extracted:30") for _ in range(5)]
    assert reads == ["legacy"] * 35
    deadline = time.monotonic() + 10
    while (figures := parity(gw))["match"] + figures["moved"] + figures["mismatch"] < 35:
        assert time.monotonic() < deadline, figures
        time.sleep(0.05)
    assert figures["mismatch"] == 0, gw.admin.get("/mismatches?route=orders").json()
    assert figures["match"] >= 5
    # a candidate that fails while nothing moves is a mismatch, legacy asked again or not
    assert gw.served_by("/orders/1?fail=extracted") == "legacy"
    assert parity(gw, mismatch=1)["mismatch"] == 1
    sample = gw.admin.get("/mismatches?route=orders").json()["samples"][0]
    assert sample["diff"].startswith("status: 200 != 503") and "legacy_again" in sample


def test_a_slow_candidate_neither_delays_the_client_nor_piles_up(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway(GATEWAY_SHADOW_CONCURRENCY="2", GATEWAY_SHADOW_QUEUE="4")
    assert gw.set("orders", mode="shadow", timeout_s=10).status_code == 200

    clients = [httpx.Client(base_url=gw.url, timeout=10) for _ in range(8)]

    def timed(n: int) -> float:
        client = clients[n % len(clients)]
        started = time.perf_counter()
        assert client.get(f"/orders/{n}?slow=extracted:3000").json()["served_by"] == "legacy"
        return time.perf_counter() - started

    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            took = list(pool.map(timed, range(40)))
    finally:
        for client in clients:
            client.close()
    # each mirror takes 3 s; a client that waited for one would show it
    assert max(took) < 1.5
    # 2 mirrors in flight and 4 queued; the rest arrive while those take their 3 s (the
    # 40 requests take well under that) and are dropped and counted, not queued
    figures = parity(gw, dropped=40 - 2 - 4)
    assert figures["match"] + figures["mismatch"] + figures["candidate_error"] <= 6


def test_noise_calibration_reports_what_differs_when_legacy_is_compared_with_itself(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    assert gw.set("orders", mode="shadow", noise_sample=1.0).status_code == 200
    for n in range(4):
        gw.served_by(f"/orders/{n}")
    figures = parity(gw, noise_mismatch=4)
    assert figures["noise_rate"] == 1.0
    # the echo's nonce differs on every answer: noise, not a difference of the candidate
    assert figures["noise_paths"] == {"$.nonce": 4}
    assert figures["noise_discounted_paths"] == ["$.nonce"]
    # ...so with the rest of the echoes' differences ignored, the nonce is let off, visibly
    others = [path for path in ECHO_NOISE if path != "$.nonce"]
    assert gw.set("orders", noise_sample=0, compare={"ignore": others}).status_code == 200
    before = parity(gw)["mismatch"]  # the echoes differ in more than noise, until ignored
    for n in range(3):
        gw.served_by(f"/orders/{n}")
    figures = parity(gw, discounted=3)
    assert (figures["match"], figures["mismatch"]) == (3, before)
    assert figures["discounted_paths"] == {"$.nonce": 3}
    # an operator who wants no difference let off turns it off: the nonce, which legacy
    # changes on every read, is then not a match but moved (inconclusive, outside parity)
    turned_off = gw.cli(
        "routes", "set", "orders", "--no-discount-noise", "--reason", "count the nonce"
    )
    assert turned_off.returncode == 0, turned_off.stderr
    gw.served_by("/orders/1")
    figures = parity(gw, moved=1)
    assert (figures["match"], figures["discounted"], figures["mismatch"]) == (3, 3, before)


def test_operators_read_parity_and_samples_set_compare_rules_and_reset_with_the_cli(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    assert gw.set("orders", mode="shadow", compare={"numeric_tolerance": 0.5}).status_code == 200
    for n in range(3):
        gw.served_by(f"/orders/{n}")
    parity(gw, mismatch=3)
    table = gw.cli("routes", "parity", "orders")
    assert table.returncode == 0 and "orders" in table.stdout, table.stderr
    assert " 0.0000 " in table.stdout  # parity, in total and in the window
    shown = gw.cli("routes", "mismatches", "orders", "--limit", "1")
    assert shown.returncode == 0 and "$.served_by" in shown.stdout, shown.stdout
    args = [arg for path in ECHO_NOISE for arg in ("--ignore", path)]
    done = gw.cli("routes", "set", "orders", *args, "--reason", "echo noise")
    assert done.returncode == 0, done.stderr
    rules = gw.admin.get("/routes/orders").json()["compare"]
    assert rules == {"numeric_tolerance": 0.5, "ignore": ECHO_NOISE}  # the rest kept
    reset = gw.cli("routes", "reset-parity", "orders", "--reason", "rules fixed")
    assert reset.returncode == 0, reset.stderr
    entry = gw.admin.get("/audit", params={"limit": 1}).json()["entries"][-1]
    assert (entry["action"], entry["route"], entry["reason"]) == (
        "reset-parity",
        "orders",
        "rules fixed",
    )
    assert entry["before"]["mismatch"] == 3  # what was set aside stays on record
    for n in range(2):
        gw.served_by(f"/orders/{n}")
    figures = parity(gw, match=2)
    assert (figures["mismatch"], figures["parity"]) == (0, 1.0)
    assert gw.admin.get("/mismatches", params={"route": "orders"}).json()["samples"] == []
    assert gw.admin.post("/parity/nope/reset", json={"reason": "x"}).status_code == 404


def test_an_open_breaker_sends_the_route_to_legacy_and_shows_in_admin_and_metrics(
    gateway: Callable[..., GatewayProcess], upstreams: dict[str, str]
) -> None:
    gw = gateway()
    policy = {"consecutive_failures": 3, "open_s": 30}
    assert gw.set("orders", mode="extracted", breaker=policy).status_code == 200
    for _ in range(3):  # each fails on extracted and falls back to legacy
        assert gw.served_by("/orders/1", params={"fail": "extracted"}) == "legacy"
    before = stats(upstreams, "extracted")["requests"]
    for _ in range(5):  # open: extracted is not even asked
        assert gw.served_by("/orders/1") == "legacy"
    assert stats(upstreams, "extracted")["requests"] == before
    breakers = gw.admin.get("/breakers").json()["breakers"]
    assert [(b["route"], b["state"], b["reason"]) for b in breakers] == [
        ("orders", "open", "consecutive_failures")
    ]
    metrics = httpx.get(f"{gw.admin_url}/metrics").text
    assert 'gateway_breaker_state{route="orders",upstream="extracted"} 2.0' in metrics
    assert 'gateway_fallbacks_total{reason="status-503",route="orders"} 3.0' in metrics
    assert 'gateway_requests_total{route="orders",status="200",target="legacy"}' in metrics
    reset = gw.admin.post("/breakers/orders/extracted/reset", json={"reason": "fixed"})
    assert reset.status_code == 200
    assert gw.served_by("/orders/1") == "extracted"


def run_compare(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return gw.cli("compare", *args)


def test_strangler_compare_prints_the_diff_and_refuses_an_unsafe_write(
    gateway: Callable[..., GatewayProcess], upstreams: dict[str, str]
) -> None:
    gw = gateway()
    differs = run_compare(gw, "GET", "/orders/7?x=1")
    assert differs.returncode == 1, differs.stderr
    assert "route orders: legacy 200, extracted 200" in differs.stdout
    assert "$.served_by" in differs.stdout
    assert gw.set("orders", compare={"ignore": ECHO_NOISE}).status_code == 200
    same = run_compare(gw, "GET", "/orders/7?x=1")
    assert same.returncode == 0 and "identical" in same.stdout
    before = stats(upstreams, "extracted")
    refused = run_compare(gw, "POST", "/orders/7", "--json", '{"qty": 2}')
    assert refused.returncode == 1 and "does not declare dry-run support" in refused.stderr
    assert stats(upstreams, "extracted") == before
    assert gw.set("orders", dry_run=True).status_code == 200
    dry = run_compare(gw, "POST", "/orders/7", "--json", '{"qty": 2}', "--raw")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert stats(upstreams, "extracted")["writes"] == before["writes"]
