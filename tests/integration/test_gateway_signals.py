"""Signals across real gateway processes: two replicas' answers, an extracted failure that
fell back to legacy counted as the extracted side's error, read through `GET /signals`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from redis import Redis

from tests.integration.gateways import GatewayProcess


def signals(gw: GatewayProcess, **params: object) -> httpx.Response:
    return gw.admin.get("/signals", params={"route": "orders", **params})


def wait_for_extracted(gw: GatewayProcess, requests: int) -> dict[str, Any]:
    """The figures once both replicas have flushed (every 0.2 s here), or the last seen."""
    deadline = time.monotonic() + 10
    while True:
        figures: dict[str, Any] = signals(gw).json()
        if figures["sides"]["extracted"]["requests"] >= requests or time.monotonic() > deadline:
            return figures
        time.sleep(0.1)


def counts(figures: dict[str, Any]) -> dict[str, int]:
    sides = figures["sides"]
    return {
        "extracted": sides["extracted"]["requests"],
        "extracted errors": sides["extracted"]["errors"],
        "legacy": sides["legacy"]["requests"],
        "legacy errors": sides["legacy"]["errors"],
    }


def test_replicas_signals_add_up_and_a_fallback_is_an_extracted_error(
    gateway: Callable[..., GatewayProcess],
) -> None:
    env = {"GATEWAY_SIGNALS_FLUSH_S": "0.2", "GATEWAY_MAX_BODY_BYTES": "100"}
    first, second = gateway(**env), gateway(**env)
    assert first.set("orders", mode="extracted").status_code == 200
    deadline = time.monotonic() + 5
    while second.public.get("/orders/1").json()["served_by"] != "extracted":
        assert time.monotonic() < deadline, "the second gateway did not follow"
        time.sleep(0.05)
    time.sleep(0.6)  # both replicas have flushed the requests above
    before = counts(signals(first).json())
    for gw in (first, second):
        for _ in range(3):  # the extracted side fails; legacy answers the client
            assert gw.served_by("/orders/1", params={"fail": "extracted"}) == "legacy"
        assert gw.served_by("/orders/1") == "extracted"
        # refused before a side was chosen: no side's signal
        assert gw.public.post("/orders/1", content=b"x" * 101).status_code == 413
    figures = wait_for_extracted(first, before["extracted"] + 8)
    added = {name: n - before[name] for name, n in counts(figures).items()}
    # 2 answers and 6 failures of the extracted side; legacy answered the 6 fallbacks
    assert added == {"extracted": 8, "extracted errors": 6, "legacy": 6, "legacy errors": 0}
    extracted = figures["sides"]["extracted"]
    assert extracted["by_class"]["5xx"] == extracted["errors"]
    assert extracted["p50_ms"] > 0 and extracted["p99_ms"] >= extracted["p50_ms"]
    assert figures["window_s"] == 60 and figures["parity"]["parity"] is None
    # in Redis, per second: only the two sides of the route, never the gateway's refusals
    redis = Redis.from_url(first.store_url)
    try:
        keys = {k.decode() for k in redis.scan_iter(f"{first.namespace}:signals:*")}
    finally:
        redis.close()
    assert {tuple(k.split(":")[-3:-1]) for k in keys} == {
        ("orders", "legacy"),
        ("orders", "extracted"),
    }


def test_signals_refuse_a_bad_window_and_an_unknown_route(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    assert httpx.get(f"{gw.admin_url}/signals?route=orders").status_code == 401  # no token
    for window in ("0", "3601", "ten", "-5"):
        refused = signals(gw, window=window)
        assert refused.status_code == 400, window
        assert refused.headers["content-type"] == "application/problem+json"
        assert "window must be a whole number of seconds from 1 to 3600" in refused.json()["detail"]
    unnamed = gw.admin.get("/signals")
    assert unnamed.status_code == 400 and "name a route" in unnamed.json()["detail"]
    unknown = gw.admin.get("/signals", params={"route": "nope"})
    assert unknown.status_code == 404 and "no route named 'nope'" in unknown.json()["detail"]
    quiet = signals(gw, window=5).json()
    assert quiet["sides"]["extracted"] == {
        "requests": 0,
        "by_class": {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0},
        "errors": 0,
        "error_rate": None,
        "p50_ms": None,
        "p99_ms": None,
        "diverted": 0,
    }
    document = httpx.get(f"{gw.admin_url}/openapi.json").json()
    assert "404" in {str(status) for status in document["paths"]["/signals"]["get"]["responses"]}
