"""`strangler up`, a checkout over HTTP, `strangler down`: real processes, nothing left behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from strangler.settings import PORT_OFFSETS
from tests.conftest import free_port_base
from tests.e2e.shop import group_members

pytestmark = pytest.mark.e2e

STRANGLER = str(Path(sys.executable).with_name("strangler"))


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def cli_env(tmp_path: Path, new_database: Callable[[], str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRANGLER_")}
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = new_database()  # never a database another stack works on
    env["STRANGLER_HOME"] = str(tmp_path / "home")
    env["STRANGLER_PORT_BASE"] = str(free_port_base())
    env["STRANGLER_NAMESPACE"] = f"e2e-{uuid.uuid4().hex[:12]}"
    return env


def test_up_then_a_checkout_charges_once_and_mails_once_and_down_leaves_no_process(
    cli_env: dict[str, str],
) -> None:
    started = run_cli("up", env=cli_env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        status = run_cli("status", "--json", env=cli_env)
        assert status.returncode == 0, status.stdout + status.stderr
        parts = {p["name"]: p for p in json.loads(status.stdout)}
        expected = {
            "mail",
            "payments",
            "payments-service",
            "catalog",
            "users",
            "orders",
            "analytics",
            "catalog-worker",
            "notifications",
            "analytics-worker",
            "payments-worker",
            "outbox-relay",
            "legacy",
            "gateway",
            "rollouts",
        } | (set() if os.environ.get("REDIS_URL") else {"redis"})
        assert set(parts) == expected
        assert all(p["healthy"] and p["pid"] for p in parts.values())
        processes = group_members({p["pid"] for p in parts.values()})
        assert len(processes) > len(parts)  # gunicorn's worker is a child of its own

        shop, payments, mail = (
            parts["gateway"]["url"],
            parts["payments"]["url"],
            parts["mail"]["url"],
        )
        suffix = uuid.uuid4().hex[:10]
        with httpx.Client(base_url=shop, timeout=30) as client:
            product = client.post(
                "/products",
                json={"sku": f"E2E-{suffix}", "name": "Fig", "price_cents": 2500, "stock": 3},
            ).json()
            user = client.post(
                "/users", json={"email": f"e2e-{suffix}@example.com", "name": "E2E"}
            ).json()
            client.post(
                f"/users/{user['id']}/cart/items", json={"product_id": product["id"], "quantity": 2}
            )
            order = client.post(
                f"/users/{user['id']}/checkout", json={"card_token": f"tok_visa_{suffix}"}
            )
            assert order.status_code == 201, order.text
            assert client.get(f"/products/{product['id']}").json()["stock"] == 1
        charges = httpx.get(
            f"{payments}/v1/charges", params={"card_token": f"tok_visa_{suffix}"}
        ).json()["charges"]
        assert [c["amount_cents"] for c in charges] == [order.json()["total_cents"]]
        messages = httpx.get(f"{mail}/messages", params={"to": user["email"]}).json()["messages"]
        assert [m["subject"] for m in messages] == [f"Your order #{order.json()['id']}"]

        # the relay's metrics: legacy's checkout was captured (expand step 0005f) and
        # published, and nothing is left behind
        relay = int(cli_env["STRANGLER_PORT_BASE"]) + PORT_OFFSETS["relay-metrics"]
        deadline = time.monotonic() + 15
        while "outbox_unpublished_events 0.0" not in (
            metrics := httpx.get(f"http://127.0.0.1:{relay}/metrics").text
        ):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.2)
        assert "outbox_published_events_total 0.0" not in metrics
        assert 'rq_jobs_failed{queue="notifications"} 0.0' in metrics
        assert 'read_model_lag_seconds{consumer="analytics"}' in metrics
        said = run_cli("status", env=cli_env).stdout
        assert "read models behind by: analytics" in said, said

        demo = run_cli("demo", env=cli_env)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "charges at the payment provider for this card: 1" in demo.stdout
        assert "e-mails in the mail sink" in demo.stdout
    finally:
        stopped = run_cli("down", env=cli_env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    deadline = time.monotonic() + 5
    while group_members({p["pid"] for p in parts.values()}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_members({p["pid"] for p in parts.values()}) == set()
    after = run_cli("status", "--json", env=cli_env)
    assert after.returncode == 1
    assert not any(p["running"] for p in json.loads(after.stdout))


def test_a_port_already_in_use_gives_a_clear_error_and_leaves_nothing_running(
    cli_env: dict[str, str],
) -> None:
    legacy_port = int(cli_env["STRANGLER_PORT_BASE"]) + 1
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", legacy_port))
        squatter.listen()
        started = time.monotonic()
        result = run_cli("up", env=cli_env, timeout=60)
        took = time.monotonic() - started
    assert result.returncode == 1
    assert f"port {legacy_port}" in result.stderr and "already in use" in result.stderr
    assert took < 30
    status = run_cli("status", "--json", env=cli_env)
    assert not any(p["running"] for p in json.loads(status.stdout))
