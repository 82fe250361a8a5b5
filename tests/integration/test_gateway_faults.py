"""Fault injection through a real gateway in front of echo upstreams: aborts and delays on
the extracted side only, the fallback rules they meet, expiry, the audit log, the CLI."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.integration.gateways import GatewayProcess

ABORT = {"percent": 100, "abort_status": 503, "for_s": 120, "reason": "rollback drill"}


def seen_by(upstream: str) -> int:
    """How many requests an echo upstream has been sent (writes and reads)."""
    count: int = httpx.get(f"{upstream}/_echo/stats").json()["requests"]
    return count


def fault_of(gw: GatewayProcess) -> Any:
    return gw.admin.get("/routes/orders").json()["fault"]


def test_an_abort_sends_reads_to_legacy_and_gives_writes_the_abort_status(
    gateway: Callable[..., GatewayProcess], upstreams: dict[str, str]
) -> None:
    gw = gateway()
    assert gw.set("orders", mode="extracted").status_code == 200
    drill = gw.cli(
        "routes", "fault", "orders", "--abort", "503", "--for", "2m", "--reason", "drill"
    )
    assert drill.returncode == 0, drill.stderr
    extracted, legacy_writes = seen_by(upstreams["extracted"]), seen_by(upstreams["legacy"])

    read = gw.public.get("/orders/1")
    assert read.status_code == 200 and read.json()["served_by"] == "legacy"  # the fallback
    assert read.headers["x-strangler-fault"] == "abort"
    write = gw.public.post("/orders/1", json={"x": 1})
    # a write is not sent again on legacy after a 5xx: the client gets it, as from a real one
    assert write.status_code == 503 and write.headers["x-strangler-fault"] == "abort"
    assert write.headers["content-type"] == "application/problem+json"
    assert write.json()["type"].endswith("fault-injected")
    assert seen_by(upstreams["extracted"]) == extracted  # the extracted side saw nothing
    assert seen_by(upstreams["legacy"]) == legacy_writes + 1  # the read's fallback only

    listed = gw.cli("routes", "list").stdout
    assert re.search(r"fault: abort 503 100% until \d\d:\d\d:\d\dZ", listed), listed
    metrics = httpx.get(f"{gw.admin_url}/metrics").text
    assert 'gateway_faults_injected_total{kind="abort",route="orders"} 2.0' in metrics
    assert 'gateway_fallbacks_total{reason="status-503",route="orders"} 1.0' in metrics

    cleared = gw.cli("routes", "fault", "orders", "--clear", "--reason", "drill over")
    assert cleared.returncode == 0, cleared.stderr
    after = gw.public.get("/orders/1")
    assert after.json()["served_by"] == "extracted" and "x-strangler-fault" not in after.headers
    assert "fault:" not in gw.cli("routes", "list").stdout


def test_a_delay_shows_in_the_latency_of_the_extracted_answer(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    assert gw.set("orders", mode="extracted").status_code == 200

    def timed() -> tuple[float, httpx.Response]:
        started = time.perf_counter()
        response = gw.public.get("/orders/1")
        return time.perf_counter() - started, response

    timed()  # the first request opens the pooled connection
    plain, _ = timed()
    wrong = gw.cli(
        "routes", "fault", "orders", "--delay", "400", "--for", "a minute", "--reason", "x"
    )
    assert wrong.returncode == 2 and "--for takes a duration such as" in wrong.stderr
    drill = gw.cli("routes", "fault", "orders", "--delay", "400ms", "--for", "1m", "--reason", "x")
    assert drill.returncode == 0, drill.stderr
    assert fault_of(gw)["delay_ms"] == 400 and fault_of(gw)["percent"] == 100
    slow, response = timed()
    assert plain < 0.4 <= slow
    assert response.json()["served_by"] == "extracted"
    assert response.headers["x-strangler-fault"] == "delay"


def test_an_expired_fault_injects_nothing(gateway: Callable[..., GatewayProcess]) -> None:
    gw = gateway()
    assert gw.set("orders", mode="extracted").status_code == 200
    assert gw.admin.put("/routes/orders/fault", json={**ABORT, "for_s": 2}).status_code == 200
    assert gw.public.get("/orders/1").headers["x-strangler-fault"] == "abort"
    until = datetime.fromisoformat(fault_of(gw)["until"])  # this machine's clock, as the gateway's
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds() + 0.1))
    after = gw.public.get("/orders/1")
    assert after.json()["served_by"] == "extracted" and "x-strangler-fault" not in after.headers
    assert fault_of(gw) is not None  # still in the table, inert: nothing had to remove it
    assert re.search(
        r"fault: expired at \d\d:\d\d:\d\dZ \(inert\)", gw.cli("routes", "list").stdout
    )


def test_requests_on_the_legacy_side_and_shadow_mirrors_never_draw_a_fault(
    gateway: Callable[..., GatewayProcess], upstreams: dict[str, str]
) -> None:
    gw = gateway()
    assert gw.set("orders", mode="canary", weight=50).status_code == 200
    sides = {user: gw.served_by(f"/users/{user}/orders") for user in range(40)}
    assert set(sides.values()) == {"legacy", "extracted"}
    assert gw.admin.put("/routes/orders/fault", json=ABORT).status_code == 200
    faulted = []
    for user, side in sides.items():
        response = gw.public.get(f"/users/{user}/orders")
        assert response.json()["served_by"] == "legacy"  # the extracted keys fell back
        faulted.append(("x-strangler-fault" in response.headers, side))
    # only the extracted keys drew the fault, until five failures in a row opened the
    # breaker (its default), which then sent the rest to legacy as for a real outage
    assert {side for drawn, side in faulted if drawn} == {"extracted"}
    assert [drawn for drawn, side in faulted if side == "extracted"][:6] == [True] * 5 + [False]
    assert [b["state"] for b in gw.admin.get("/breakers").json()["breakers"]] == ["open"]

    assert gw.set("orders", mode="shadow").status_code == 200
    mirrored = seen_by(upstreams["extracted"])
    response = gw.public.get("/orders/1")
    assert response.json()["served_by"] == "legacy" and "x-strangler-fault" not in response.headers
    deadline = time.monotonic() + 5
    while seen_by(upstreams["extracted"]) == mirrored:  # the mirror reached the upstream
        assert time.monotonic() < deadline, "the shadow mirror never reached the extracted side"
        time.sleep(0.05)


def test_setting_and_clearing_a_fault_are_audited_changes(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    put = gw.admin.put("/routes/orders/fault", json={**ABORT, "percent": 25, "delay_ms": 200})
    assert put.status_code == 200, put.text
    cleared = gw.admin.request("DELETE", "/routes/orders/fault", json={"reason": "drill over"})
    assert cleared.status_code == 200, cleared.text
    entries = gw.admin.get("/audit").json()["entries"]
    set_entry, clear_entry = entries[-2:]
    assert [e["action"] for e in entries] == ["seed", "set", "set"]
    assert set_entry["reason"] == "rollback drill" and set_entry["actor"] == "admin"
    assert set_entry["before"]["fault"] is None
    fault = set_entry["after"]["fault"]
    assert {k: fault[k] for k in ("percent", "delay_ms", "abort_status")} == {
        "percent": 25,
        "delay_ms": 200,
        "abort_status": 503,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", fault["until"])
    assert clear_entry["before"]["fault"] == fault and clear_entry["after"]["fault"] is None
    assert clear_entry["reason"] == "drill over"


def test_the_admin_api_explains_every_refused_fault(gateway: Callable[..., GatewayProcess]) -> None:
    gw = gateway()

    def put(**changes: object) -> httpx.Response:
        body = {**ABORT, **changes}
        return gw.admin.put(
            "/routes/orders/fault", json={k: v for k, v in body.items() if v != ...}
        )

    refusals = {
        "percent": (put(percent=0), 422, "fault percent must be a number above 0"),
        "status": (put(abort_status=700), 422, "abort_status must be an HTTP status from 400"),
        "nothing": (put(abort_status=...), 422, "a fault needs delay_ms, abort_status or both"),
        "delay": (put(delay_ms=90_000), 422, "delay_ms must be an integer from 0 to 60000"),
        "for_s": (put(for_s=0), 400, "for_s must be a number of seconds from 1 to 86400"),
        "no for_s": (put(for_s=...), 400, "for_s must be a number of seconds"),
        "field": (put(until="2030-01-01T00:00:00Z"), 400, "unknown field(s) until"),
        "reason": (put(reason=...), 400, "reason"),
        "route": (
            gw.admin.put("/routes/payments/fault", json=ABORT),
            404,
            "no route named 'payments'",
        ),
        "nothing to clear": (
            gw.admin.request("DELETE", "/routes/orders/fault", json={"reason": "x"}),
            409,
            "route 'orders' has no fault to clear",
        ),
        "cross-site": (
            gw.admin.put(
                "/routes/orders/fault", json=ABORT, headers={"Sec-Fetch-Site": "cross-site"}
            ),
            403,
            "changes come from this origin only",
        ),
        "not json": (
            gw.admin.request(
                "DELETE",
                "/routes/orders/fault",
                content=b'{"reason": "x"}',
                headers={"Content-Type": "text/plain"},
            ),
            415,
            "Content-Type: application/json",
        ),
        "patched until": (
            gw.set("orders", fault={"percent": 5, "abort_status": 503, "until": "tomorrow"}),
            422,
            "fault until must be an RFC 3339 UTC time",
        ),
    }
    for what, (response, status, message) in refusals.items():
        assert response.status_code == status, (what, response.text)
        assert response.headers["content-type"] == "application/problem+json", what
        assert message in response.json()["detail"], (what, response.json()["detail"])
    assert fault_of(gw) is None  # nothing was applied
    assert [e["action"] for e in gw.admin.get("/audit").json()["entries"]] == ["seed"]
    assert "/routes/{name}/fault" in httpx.get(f"{gw.admin_url}/openapi.json").json()["paths"]
