"""The gateway as real processes: modes, live changes, the CLI, Redis loss, fallback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from redis import Redis

from strangler.parts import redis_part
from strangler.runner import running, stop_group
from tests.conftest import free_port_base
from tests.integration.gateways import GatewayProcess


def test_each_mode_sends_traffic_where_the_operator_said(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    assert gw.served_by("/orders/1") == "legacy"
    assert gw.served_by("/anything/else") == "legacy"
    assert gw.set("orders", mode="extracted").status_code == 200
    assert gw.served_by("/orders/1") == "extracted"
    assert gw.served_by("/anything/else") == "legacy"  # the default route stays on legacy
    assert gw.set("orders", mode="canary", weight=50).status_code == 200
    sides = {user: gw.served_by(f"/users/{user}/orders") for user in range(60)}
    assert set(sides.values()) == {"legacy", "extracted"}
    assert all(gw.served_by(f"/users/{user}/orders") == side for user, side in sides.items())
    assert gw.served_by("/orders/1") == "legacy"  # no user id in the path: no key, legacy


def test_a_change_on_one_gateway_is_served_by_another_within_a_second(
    gateway: Callable[..., GatewayProcess],
) -> None:
    first, second = gateway(), gateway()
    assert second.served_by("/orders/1") == "legacy"
    changed = time.monotonic()
    assert first.set("orders", mode="extracted").status_code == 200
    while second.served_by("/orders/1") != "extracted":
        assert time.monotonic() - changed < 1.0, "the second gateway did not follow within 1 s"
        time.sleep(0.02)


def test_the_admin_api_needs_a_token_and_explains_every_refusal(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    assert httpx.get(f"{gw.admin_url}/routes").status_code == 401
    wrong = httpx.get(f"{gw.admin_url}/routes", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"
    refusals = {
        "mode": (gw.set("orders", mode="sideways"), 422, "mode must be one of"),
        "weight": (gw.set("orders", weight=150), 422, "weight must be a number from 0 to 100"),
        "setting": (gw.set("orders", colour="red"), 400, "cannot set colour"),
        "route": (gw.set("payments", mode="legacy"), 404, "no route named 'payments'"),
        "reason": (gw.admin.patch("/routes/orders", json={"mode": "extracted"}), 400, "reason"),
    }
    for what, (response, status, message) in refusals.items():
        assert response.status_code == status, what
        assert message in response.json()["detail"], what
    assert gw.served_by("/orders/1") == "legacy"  # nothing was applied
    # the public listener never serves admin paths: they go to the upstream like any other
    assert gw.served_by("/routes") == "legacy"
    assert gw.public.get("/kill").json()["served_by"] == "legacy"
    assert "/routes/{name}" in httpx.get(f"{gw.admin_url}/openapi.json").json()["paths"]


def run_cli(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return gw.cli("routes", *args)


def test_moving_a_route_through_every_mode_with_the_cli_under_load_fails_no_request(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    failures: list[str] = []
    served: dict[str, int] = {}
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=gw.url, timeout=5) as client:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    response = client.get(f"/users/{n % 500}/orders")
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:100]}")
                    else:
                        side = response.json()["served_by"]
                        served[side] = served.get(side, 0) + 1
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    steps = [
        ["--mode", "shadow"],
        ["--mode", "canary", "--weight", "5"],
        ["--weight", "25"],
        ["--weight", "50"],
        ["--mode", "extracted"],
        ["--mode", "legacy"],
    ]
    try:
        for step in steps:
            time.sleep(0.3)
            result = run_cli(gw, "set", "orders", *step, "--reason", f"ramp {' '.join(step)}")
            assert result.returncode == 0, result.stderr
        time.sleep(0.3)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert failures == []
    assert served.get("legacy", 0) > 0 and served.get("extracted", 0) > 0
    audit = json.loads(run_cli(gw, "audit", "--json").stdout)
    assert [entry["reason"] for entry in audit[1:]] == [f"ramp {' '.join(s)}" for s in steps]
    assert all(entry["actor"] == "admin" for entry in audit[1:])


def test_kill_switch_and_rollback_are_versions_in_the_audit_log(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    assert run_cli(gw, "set", "orders", "--mode", "extracted", "--reason", "go").returncode == 0
    version_extracted = json.loads(run_cli(gw, "list", "--json").stdout)["version"]
    killed = run_cli(gw, "kill", "--reason", "p99 alarm", "--json")
    assert killed.returncode == 0, killed.stderr
    assert json.loads(killed.stdout)["before"] == {"orders": "extracted"}
    assert gw.served_by("/orders/1") == "legacy"
    back = run_cli(gw, "rollback", str(version_extracted), "--reason", "false alarm")
    assert back.returncode == 0, back.stderr
    assert gw.served_by("/orders/1") == "extracted"
    actions = [e["action"] for e in json.loads(run_cli(gw, "audit", "--json").stdout)]
    assert actions == ["seed", "set", "kill", "rollback"]
    missing = run_cli(gw, "rollback", "999", "--reason", "typo")
    assert missing.returncode == 1 and "no table version 999" in missing.stderr


def test_a_gateway_that_loses_redis_keeps_its_last_table_and_says_so(
    gateway: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    port = free_port_base()
    data = tmp_path / "redis-data"
    part = redis_part("own-redis", "127.0.0.1", port, data)
    url = part.url
    with running(part, tmp_path) as redis_process:
        gw = gateway(store_url=url)
        assert gw.set("orders", mode="extracted").status_code == 200
        stop_group(redis_process.pid)  # SIGTERM: redis saves its data and exits
        deadline = time.monotonic() + 5
        while httpx.get(f"{gw.admin_url}/healthz").json()["status"] != "degraded":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert gw.served_by("/orders/1") == "extracted"
        change = gw.set("orders", mode="legacy")
        assert change.status_code == 503 and "route-store-unavailable" in change.json()["type"]
    with running(part, tmp_path):
        deadline = time.monotonic() + 5
        while (health := httpx.get(f"{gw.admin_url}/healthz").json())["status"] != "ok":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert gw.served_by("/orders/1") == "extracted"
        assert gw.set("orders", mode="legacy").status_code == 200
        assert gw.served_by("/orders/1") == "legacy"
        assert health["route_store"] == "up"


def _wait_for(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


def test_a_kill_switch_and_its_audit_entry_survive_a_redis_crash(
    gateway: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """kill -9 of the runner's Redis two seconds after a kill switch: restarted on its data,
    it still holds the killed table and the kill in the audit log (append-only file, synced
    every second), and the gateway serves the kill throughout."""
    port = free_port_base()
    part = redis_part("own-redis", "127.0.0.1", port, tmp_path / "redis-data")
    with running(part, tmp_path) as redis_process:
        gw = gateway(store_url=part.url)
        assert gw.set("orders", mode="extracted").status_code == 200
        assert gw.admin.post("/kill", json={"reason": "p99 alarm"}).status_code == 200
        before = gw.admin.get("/audit").json()
        time.sleep(2)
        os.killpg(redis_process.pid, signal.SIGKILL)
        redis_process.wait()
    with running(part, tmp_path):
        _wait_for(lambda: httpx.get(f"{gw.admin_url}/healthz").json()["route_store"] == "up")
        assert gw.served_by("/orders/1") == "legacy"
        assert gw.admin.get("/audit").json() == before
        assert [e["action"] for e in before["entries"]][-1] == "kill"


def test_a_redis_back_on_older_data_never_takes_the_gateway_back_in_time(
    gateway: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """A Redis restarted from an older snapshot holds an older table version, without the
    newest audit entries. The gateway keeps serving the newest table it had and puts it back
    under its own version, with a `restore` audit entry, so every gateway stays on it."""
    port = free_port_base()
    part = redis_part("own-redis", "127.0.0.1", port, tmp_path / "redis-data")
    with running(part, tmp_path):
        keys = "drill:gateway"
        gw, other = (gateway(store_url=part.url, GATEWAY_NAMESPACE=keys) for _ in range(2))
        assert gw.set("orders", mode="extracted").status_code == 200
        extracted = gw.admin.get("/routes").json()
        assert gw.admin.post("/kill", json={"reason": "p99 alarm"}).status_code == 200
        killed = gw.admin.get("/routes").json()
        _wait_for(lambda: other.admin.get("/routes").json()["version"] == killed["version"])
        # what the store holds after a restart from a snapshot taken before the kill
        redis = Redis.from_url(part.url)
        older = redis.hget(f"{keys}:history", extracted["version"]) or b""
        with redis.pipeline() as restart:  # at once (MULTI), as a restart would change them
            restart.set(f"{keys}:version", extracted["version"])
            restart.set(f"{keys}:table", older)
            restart.hdel(f"{keys}:history", killed["version"])
            restart.rpop(f"{keys}:audit")
            restart.execute()
        _wait_for(lambda: int(redis.get(f"{keys}:version") or 0) == killed["version"])
        for each in (gw, other):
            assert each.served_by("/orders/1") == "legacy"
            assert each.admin.get("/routes").json()["version"] == killed["version"]
        entries = gw.admin.get("/audit").json()["entries"]
        assert [e["action"] for e in entries][-1] == "restore", entries
        assert entries[-1]["before"] == {"version": extracted["version"]}
        redis.close()


def test_fallback_to_legacy_happens_only_when_it_cannot_write_twice(
    gateway: Callable[..., GatewayProcess], upstreams: dict[str, str]
) -> None:
    gw = gateway()
    legacy_writes = len(httpx.get(f"{upstreams['legacy']}/_echo/writes").json())
    assert gw.set("orders", mode="extracted").status_code == 200
    # a failing GET is retried on legacy
    assert gw.served_by("/orders/1", params={"fail": "extracted"}) == "legacy"
    # a failing POST is not: the extracted side may have written
    failed_write = gw.public.post("/orders/1?fail=extracted", json={"x": 1})
    assert failed_write.status_code == 503 and failed_write.json()["served_by"] == "extracted"
    # not even with an Idempotency-Key: legacy would not honour it
    keyed = gw.public.post(
        "/orders/1?fail=extracted", json={"x": 1}, headers={"Idempotency-Key": "k-1"}
    )
    assert keyed.status_code == 503 and keyed.json()["served_by"] == "extracted"
    # a timeout on a write gives 504, says the outcome is unknown, and makes no second attempt
    slow = gw.public.post(
        "/orders/1?sleep_ms=3000", json={"x": 2}, headers={"Idempotency-Key": "k-2"}
    )
    assert slow.status_code == 504 and slow.json()["route"] == "orders"
    assert slow.json()["outcome"] == "unknown"
    assert len(httpx.get(f"{upstreams['legacy']}/_echo/writes").json()) == legacy_writes


def test_forwarding_headers_name_each_hop_once(gateway: Callable[..., GatewayProcess]) -> None:
    gw = gateway()
    seen = gw.public.get("/orders/1?b=2&a=%41", headers={"X-Forwarded-For": "198.51.100.7"}).json()
    assert seen["headers"]["x-forwarded-for"] == "198.51.100.7, 127.0.0.1"
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert seen["query"] == "b=2&a=%41"
    assert len(seen["headers"]["x-request-id"]) == 32


def test_every_admin_call_is_described_in_the_openapi_document(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    document = httpx.get(f"{gw.admin_url}/openapi.json").json()
    for path in ("/routes/{name}", "/parity", "/parity/{route}/reset", "/mismatches"):
        assert path in document["paths"], path
    reset = document["paths"]["/parity/{route}/reset"]["post"]
    assert "404" in {str(status) for status in reset["responses"]}
