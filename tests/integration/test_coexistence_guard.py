"""Moving a route whose read model misses legacy's writes: refused by the gateway's admin API
and the CLI with what unblocks it, forced with a reason and audited, allowed while capture
keeps up (figures the relay writes: new_services/outbox_relay/lag.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis

from new_services.outbox_relay.lag import Lag, publish
from tests.integration.gateways import GatewayProcess

ROUTES = """
[upstreams]
legacy = "{legacy}"
extracted = "{extracted}"

[[routes]]
name = "checkout"
match = ["/users/{{user_id}}/checkout"]
extracted = "extracted"
writes = ["orders"]

[[routes]]
name = "reports"
match = ["/reports/**"]
extracted = "extracted"
reads = ["orders"]
read_model = "analytics"
"""


@pytest.fixture
def guarded(
    gateway: Callable[..., GatewayProcess], upstreams: dict[str, str], tmp_path: Path
) -> Iterator[tuple[GatewayProcess, str]]:
    routes = tmp_path / "declared.toml"
    routes.write_text(ROUTES.format(**upstreams))
    namespace = f"guard-{uuid.uuid4().hex[:8]}"
    gw = gateway(
        GATEWAY_ROUTES_FILE=str(routes), GATEWAY_CAPTURE_LAG_KEY=f"{namespace}:capture:lag"
    )
    yield gw, namespace


def test_a_report_move_is_refused_while_capture_is_off_then_forced_and_audited(
    guarded: tuple[GatewayProcess, str],
) -> None:
    gw, _ = guarded
    refused = gw.set("reports", mode="extracted")
    assert refused.status_code == 409, refused.text
    said = refused.json()["detail"]
    assert "checkout still send writes of it to legacy" in said
    assert "the outbox relay is not running" in said
    assert gw.served_by("/reports/sales") == "legacy"

    cli = gw.cli("routes", "set", "reports", "--mode", "extracted", "--reason", "try")
    assert cli.returncode != 0 and "checkout" in cli.stdout + cli.stderr

    forced = gw.cli(
        "routes", "set", "reports", "--mode", "extracted", "--force", "--reason", "month end"
    )
    assert forced.returncode == 0, forced.stdout + forced.stderr
    [entry] = gw.admin.get("/audit", params={"limit": 1}).json()["entries"]
    assert entry["route"] == "reports" and entry["reason"] == "month end"
    assert "not running" in entry["forced"]
    assert gw.served_by("/reports/sales") == "extracted"


def test_a_report_move_is_allowed_while_capture_keeps_up_and_refused_when_it_falls_behind(
    guarded: tuple[GatewayProcess, str], redis_url: str
) -> None:
    gw, namespace = guarded
    with Redis.from_url(redis_url) as redis:
        publish(redis, namespace, {"analytics": Lag(12.0, 0)})
        behind = gw.set("reports", mode="canary", weight=10)
        assert behind.status_code == 409 and "behind by 12.0 s" in behind.json()["detail"]
        publish(redis, namespace, {"analytics": Lag(0.3, 0)})
        allowed = gw.set("reports", mode="canary", weight=10)
        assert allowed.status_code == 200, allowed.text
        assert "forced" not in allowed.json()
