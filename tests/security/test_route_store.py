"""Whoever can write the route store cannot send traffic where the gateway was not configured
to, nor change a route unaudited; the runner's own Redis wants a password no `ps` shows."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from gateway.routes import RouteTable, RouteTableError
from gateway.store import RedisRouteStore
from strangler.parts import ensure_secrets, plan
from strangler.runner import running
from tests.conftest import stack_settings
from tests.integration.gateways import GatewayProcess

Json = dict[str, Any]


def stored(gw: GatewayProcess) -> Json:
    with redis.Redis.from_url(gw.store_url) as client:
        raw = client.get(f"{gw.namespace}:table")
    assert raw is not None
    document: Json = json.loads(raw)
    return document


def commit_audited(gw: GatewayProcess, document: Json) -> int:
    """Store `document` as the next version with an audit entry, as only the admin API should:
    what someone holding the store's password could do."""

    async def write() -> int:
        client = AsyncRedis.from_url(gw.store_url)
        try:
            store = RedisRouteStore(client, gw.namespace)
            version = await store.version()
            audit = {"version": version + 1, "actor": "intruder", "action": "set", "reason": "x"}
            assert await store.commit(version, {**document, "version": version + 1}, audit)
            return version + 1
        finally:
            await client.aclose()

    return asyncio.run(write())


def write_unaudited(gw: GatewayProcess, document: Json) -> int:
    """Bump the version and replace the table with two plain SETs: no audit entry."""
    with redis.Redis.from_url(gw.store_url) as client:
        version = int(client.get(f"{gw.namespace}:version") or 0) + 1
        client.set(f"{gw.namespace}:table", json.dumps({**document, "version": version}))
        client.set(f"{gw.namespace}:version", version)
    return version


def extracted(document: Json) -> Json:
    """The table with its one route (orders) moved to the extracted side."""
    routes = [{**r, "mode": "extracted"} for r in document["routes"]]
    return {**document, "routes": routes}


def served_version(gw: GatewayProcess) -> int:
    return int(gw.admin.get("/routes").json()["version"])


def settles(gw: GatewayProcess, seconds: float = 1.5) -> None:
    """Polls every 0.25 s: after `seconds`, whatever the gateway would adopt, it has."""
    time.sleep(seconds)


def test_a_table_written_into_the_store_cannot_point_a_route_at_another_host(
    gateway: Callable[..., GatewayProcess],
) -> None:
    """The intruder's table sends `extracted` to the legacy echo's address (it could as well
    be a metadata service). The gateway serves the table's modes on its own URLs."""
    gw = gateway()
    assert gw.served_by("/orders/1") == "legacy"
    assert stored(gw)["upstreams"] == ["extracted", "legacy"], "the store keeps names only"
    document = extracted(stored(gw))
    legacy_url = gw.admin.get("/routes").json()["upstreams"]["legacy"]
    version = commit_audited(
        gw, {**document, "upstreams": {"legacy": legacy_url, "extracted": legacy_url}}
    )
    deadline = time.monotonic() + 10
    while served_version(gw) != version:
        assert time.monotonic() < deadline, "the audited version was never adopted"
        time.sleep(0.1)
    assert gw.served_by("/orders/1") == "extracted"  # its configured URL, not the table's


def test_a_route_naming_an_upstream_the_gateway_was_not_given_is_never_served(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    before = served_version(gw)
    document = stored(gw)
    routes = [{**r, "mode": "extracted", "extracted": "metadata"} for r in document["routes"]]
    upstreams = {"legacy": "http://127.0.0.1:9", "metadata": "http://169.254.169.254"}
    commit_audited(gw, {**document, "routes": routes, "upstreams": upstreams})
    settles(gw)
    assert served_version(gw) == before
    assert gw.served_by("/orders/1") == "legacy"


def test_a_table_version_with_no_audit_entry_is_never_served_nor_built_on(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    before = served_version(gw)
    tampered = write_unaudited(gw, extracted(stored(gw)))
    settles(gw)
    assert served_version(gw) == before
    assert gw.admin.get("/healthz").json()["refused_version"] == tampered
    assert gw.served_by("/orders/1") == "legacy"
    refused = gw.set("orders", weight=50)
    assert refused.status_code == 409 and "no audit entry" in refused.text
    # the kill switch replaces it, audited, and is served
    assert gw.admin.post("/kill", json={"reason": "unaudited table found"}).status_code == 200
    entries = gw.admin.get("/audit").json()["entries"]
    assert entries[-1]["action"] == "kill" and served_version(gw) == entries[-1]["version"]


@pytest.mark.parametrize(
    "address",
    ["http://169.254.169.254", "http://[fe80::1]:80", "http://0.0.0.0:8001", "http://224.0.0.1"],
)
def test_a_link_local_multicast_or_unspecified_upstream_is_refused(address: str) -> None:
    with pytest.raises(RouteTableError, match="never a shop's upstream"):
        RouteTable.from_dict({"upstreams": {"legacy": address}, "routes": []})


def test_the_runners_redis_wants_a_password_kept_0600_and_shown_by_no_command_line(
    tmp_path: Path,
) -> None:
    settings = replace(stack_settings(tmp_path / "home"), redis_url=None)
    ensure_secrets(settings, say=lambda _: None)
    [part] = [p for p in plan(settings) if p.name == "redis"]
    password = settings.embedded_redis_password
    assert len(password) >= 32
    for name in ("redis.password", "redis.conf"):
        mode = stat.S_IMODE(os.stat(settings.home / name).st_mode)
        assert mode == 0o600, (name, oct(mode))
    with running(part, settings.home) as process:
        with redis.Redis.from_url(part.url) as anonymous, pytest.raises(redis.AuthenticationError):
            anonymous.set("strangler:gateway:version", 99)
        with redis.Redis.from_url(settings.shop_redis_url) as client:
            assert client.ping()
        command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert password.encode() not in command_line
    assert password not in part.url  # what `strangler status` prints


def test_a_store_holding_what_is_not_a_table_never_stops_the_gateway_hearing_a_kill_switch(
    gateway: Callable[..., GatewayProcess],
) -> None:
    gw = gateway()
    assert gw.set("orders", mode="extracted").status_code == 200
    with redis.Redis.from_url(gw.store_url) as client:
        client.set(f"{gw.namespace}:table", "not json")
        client.incr(f"{gw.namespace}:version")
    settles(gw)
    assert gw.served_by("/orders/1") == "extracted"  # still the last audited table
    killed = gw.admin.post("/kill", json={"reason": "the store holds garbage"})
    assert killed.status_code == 200, killed.text
    deadline = time.monotonic() + 5
    while gw.served_by("/orders/1") != "legacy":
        assert time.monotonic() < deadline, "the kill switch never reached the gateway"
        time.sleep(0.1)
