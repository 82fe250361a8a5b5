"""How a mirrored answer is judged: what both sides share (one database) must never pass for a
difference of the candidate, and a real difference must never pass for a race."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from gateway.compare import Response
from gateway.parity import InMemoryParityStore
from gateway.routes import RouteTable
from gateway.shadow import MirrorJob, Replay, Shadow
from gateway.upstream import UpstreamResponse
from new_services.platform import dry_run as dry_runs

pytestmark = pytest.mark.anyio
LEGACY, ORDERS = "http://legacy.test", "http://orders.test"
KEY, SECRET = "dry-run-key-0123456789", "internal-token-0123456789"


def table(**compare: Any) -> RouteTable:
    route = {
        "name": "orders",
        "match": "/orders/**",
        "extracted": "orders",
        "mode": "shadow",
        "dry_run": True,
        "compare": compare,
    }
    return RouteTable.from_dict(
        {"upstreams": {"legacy": LEGACY, "orders": ORDERS}, "routes": [route]}, version=3
    )


Answer = tuple[int, Mapping[str, str], dict[str, Any]]


class ScriptedUpstream:
    """Answers each side's requests in turn from a script; remembers what was sent."""

    def __init__(self, legacy: list[Answer], orders: list[Answer]) -> None:
        self.script = {LEGACY: list(legacy), ORDERS: list(orders)}
        self.sent: list[tuple[str, dict[str, str]]] = []

    async def send(self, method: str, url: str, headers: Any, *_: Any) -> UpstreamResponse:
        base = LEGACY if url.startswith(LEGACY) else ORDERS
        self.sent.append((base, {k.lower(): v for k, v in headers}))
        status, answer_headers, body = self.script[base].pop(0)

        async def chunks() -> AsyncIterator[bytes]:
            yield json.dumps(body).encode()

        return UpstreamResponse(status, list(answer_headers.items()), chunks())

    async def close(self) -> None:
        return None


def ok(body: dict[str, Any], **headers: str) -> Answer:
    return 200, {"content-type": "application/json", **headers}, body


def dry(body: dict[str, Any], **headers: str) -> Answer:
    """A dry run's answer, as a service gives it: it says it kept nothing."""
    return ok(body, **{"x-strangler-dry-run": "true", **headers})


async def judge(
    primary: dict[str, Any],
    legacy: list[Answer],
    orders: list[Answer],
    *,
    method: str = "GET",
    ordered: bool = True,
    parity: InMemoryParityStore | None = None,
    routes: RouteTable | None = None,
) -> tuple[dict[str, Any], ScriptedUpstream, InMemoryParityStore]:
    """Mirror one request whose primary answered `primary`; the route's figures after."""
    upstream, parity = ScriptedUpstream(legacy, orders), parity or InMemoryParityStore()
    shadow = Shadow(upstream, parity, KEY, secrets=(KEY, SECRET))
    routes = routes or table()
    route = routes.routes[0]
    job_args: dict[str, Any] = dict(
        route=route, table=routes, method=method, url_tail="/orders/1", headers=[], body=b"{}"
    )
    early = None
    if method != "GET":
        early = asyncio.ensure_future(shadow.fetch(Replay(**job_args), "orders", dry_run=True))
        await asyncio.sleep(0)
        if ordered:
            await early
    await shadow.start()
    try:
        body = json.dumps(primary).encode()
        job = MirrorJob(
            **job_args,
            primary=Response(200, {"content-type": "application/json"}, body),
            request_id="r1",
            early=early,
            ordered=ordered,
        )
        assert shadow.offer(job)
        await shadow.drain()
    finally:
        await shadow.stop()
    return (await parity.figures())["orders"], upstream, parity


async def test_a_read_that_differs_while_legacy_holds_still_is_a_mismatch_named_by_its_field() -> (
    None
):
    wrong = ok({"total": 1_250})
    figures, upstream, parity = await judge(
        {"total": 1_200}, legacy=[ok({"total": 1_200})] * 2, orders=[wrong, wrong]
    )
    assert (figures["mismatch"], figures["parity"]) == (1, 0.0)
    [sample] = await parity.samples("orders", 10)
    assert sample["diff"] == "$.total: 1200 != 1250"
    assert sample["legacy_again"]["status"] == 200 and "extracted_fresh" in sample
    # the candidate was asked anew past any cache
    assert upstream.sent[2] == (ORDERS, {"cache-control": "no-cache"})


async def test_a_read_that_finds_the_state_legacy_reads_a_moment_later_is_a_match() -> None:
    figures, _, _ = await judge(
        {"quantity": 1}, legacy=[ok({"quantity": 2})], orders=[ok({"quantity": 2})]
    )
    assert (figures["match"], figures["mismatch"]) == (1, 0)


async def test_a_read_model_behind_legacy_that_is_right_once_read_anew_is_stale() -> None:
    figures, _, _ = await judge(
        {"stock": 7},
        legacy=[ok({"stock": 7}), ok({"stock": 7})],
        orders=[ok({"stock": 9}), ok({"stock": 7})],
    )
    assert (figures["stale"], figures["mismatch"], figures["parity"]) == (1, 0, None)


async def test_a_difference_only_where_legacy_itself_changed_is_moved_not_a_mismatch() -> None:
    figures, _, _ = await judge(
        {"stock": 7, "name": "Teapot"},
        legacy=[ok({"stock": 5, "name": "Teapot"})],
        orders=[ok({"stock": 6, "name": "Teapot"})],
    )
    assert (figures["moved"], figures["mismatch"]) == (1, 0)


async def test_a_difference_where_legacy_held_still_is_a_mismatch_even_when_something_moved() -> (
    None
):
    wrong = ok({"stock": 6, "name": "Kettle"})
    figures, _, _ = await judge(
        {"stock": 7, "name": "Teapot"},
        legacy=[ok({"stock": 5, "name": "Teapot"}), ok({"stock": 5, "name": "Teapot"})],
        orders=[wrong, wrong],
    )
    assert figures["mismatch"] == 1


async def test_a_dry_run_s_placeholders_are_left_out_of_its_comparison_and_nothing_else() -> None:
    placed = {"id": 41, "charge_id": "ch_1", "total": 1_200}
    dry_run = {"id": None, "charge_id": None, "total": 1_200}
    marked = dry(dry_run, **{"x-strangler-placeholders": "$.id, $.charge_id"})
    figures, upstream, _ = await judge(placed, legacy=[], orders=[marked], method="POST")
    assert (figures["match"], figures["mismatch"]) == (1, 0)
    proof = upstream.sent[0][1]["x-strangler-shadow"]
    assert dry_runs.proven(KEY, proof, "POST", "/orders/1", time.time())
    assert "x-strangler-token" not in upstream.sent[0][1]
    unmarked, _, parity = await judge(placed, legacy=[], orders=[dry(dry_run)], method="POST")
    assert unmarked["mismatch"] == 1  # a write is never asked again: its dry run led
    [sample] = await parity.samples("orders", 1)
    assert "$.id" in sample["diff"] and sample["placeholders"] == []


async def test_a_placeholder_header_that_is_not_a_list_of_paths_is_ignored() -> None:
    bad = dry({"id": None}, **{"x-strangler-placeholders": "id, charge"})
    figures, _, _ = await judge({"id": 41}, legacy=[], orders=[bad], method="POST")
    assert figures["mismatch"] == 1


async def test_a_dry_run_that_answered_after_its_primary_left_is_late_and_not_compared() -> None:
    figures, _, _ = await judge(
        {"total": 1}, legacy=[], orders=[dry({"total": 2})], method="POST", ordered=False
    )
    assert (figures["late"], figures["match"], figures["mismatch"]) == (1, 0, 0)


async def test_a_dry_run_answered_as_a_real_write_is_counted_apart_and_never_compared() -> None:
    """A proxy between gateway and candidate dropped the dry-run header: the candidate kept the
    write. The answer does not say it was a dry run, so it is not taken for a fair comparison."""
    figures, _, parity = await judge(
        {"total": 1}, legacy=[], orders=[ok({"total": 1})], method="POST"
    )
    assert (figures["not_dry_run"], figures["match"], figures["mismatch"]) == (1, 0, 0)
    assert await parity.samples("orders", 1) == []


async def test_a_dry_run_the_candidate_cannot_prove_is_counted_as_refused() -> None:
    refused = (
        403,
        {"content-type": "application/problem+json"},
        {"type": "urn:strangler-kit:problem:dry-run-unproven"},
    )
    figures, _, _ = await judge({"total": 1}, legacy=[], orders=[refused], method="POST")
    assert (figures["dry_run_refused"], figures["mismatch"]) == (1, 0)


async def test_no_secret_of_the_gateway_reaches_a_mismatch_sample_whatever_an_upstream_echoes() -> (
    None
):
    echoed = {"seen": f"token {SECRET} key {KEY} proof sig={'ab' * 32}", "total": 2}
    figures, _, parity = await judge({"total": 1}, legacy=[], orders=[dry(echoed)], method="POST")
    assert figures["mismatch"] == 1
    [sample] = await parity.samples("orders", 1)
    shown = json.dumps(sample)
    assert SECRET not in shown and KEY not in shown and "ab" * 32 not in shown
    assert "[redacted]" in shown


async def test_noise_is_left_out_of_parity_visibly_and_only_while_it_is_wanted() -> None:
    parity = InMemoryParityStore()
    for _ in range(5):  # legacy differed from itself at $.nonce in 5 of 5 replays
        await parity.count("orders", "noise_mismatch", 3, ["$.nonce"])
    primary = {"nonce": "a", "total": 1}
    figures, upstream, _ = await judge(
        primary, legacy=[], orders=[ok({"nonce": "b", "total": 1})], parity=parity
    )
    assert (figures["match"], figures["discounted"], figures["mismatch"]) == (1, 1, 0)
    assert figures["discounted_paths"] == {"$.nonce": 1}
    assert len(upstream.sent) == 1  # nothing asked again: noise explains it all
    off = table(discount_noise=False)
    wrong = ok({"nonce": "b", "total": 1})
    figures, _, _ = await judge(
        primary,
        legacy=[ok(primary), ok(primary)],
        orders=[wrong, wrong],
        parity=parity,
        routes=off,
    )
    assert figures["mismatch"] == 1
