"""The runner's plan: which parts start, in which order, wired to which ports."""

import socket
from pathlib import Path

import pytest

from strangler.parts import plan
from strangler.runner import RunnerError, check_ports
from strangler.settings import Settings


def test_without_redis_url_an_embedded_redis_starts_first(tmp_path: Path) -> None:
    parts = plan(Settings(home=tmp_path, port_base=9100))
    assert [p.name for p in parts] == [
        "redis",
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
    ]
    assert [p.name for p in parts if p.needs_schema] == [
        "payments-service",
        "catalog",
        "users",
        "orders",
        "catalog-worker",
        "payments-worker",
        "outbox-relay",
    ]
    assert parts[0].url == "redis://127.0.0.1:9105/0"
    assert "--daemonize" in parts[0].argv and "no" in parts[0].argv
    worker = next(p for p in parts if p.name == "notifications")
    assert worker.ports == () and worker.health.endswith("#workers:strangler-notifications")
    relay = next(p for p in parts if p.name == "outbox-relay")
    assert relay.health.endswith("#key:strangler:outbox-relay:heartbeat")
    gateway = next(p for p in parts if p.name == "gateway")
    assert gateway.env["GATEWAY_UPSTREAM_ORDERS"] == "http://127.0.0.1:9110"


def test_with_redis_url_no_redis_is_started(tmp_path: Path) -> None:
    parts = plan(Settings(home=tmp_path, redis_url="redis://127.0.0.1:6379/0"))
    assert "redis" not in [p.name for p in parts]


def test_the_shop_is_wired_to_the_stand_ins_and_the_database(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, port_base=9100)
    legacy = {p.name: p for p in plan(settings)}["legacy"]
    assert legacy.env["PAYMENTS_URL"] == "http://127.0.0.1:9102"
    assert legacy.env["SMTP_PORT"] == "9104"
    assert legacy.env["DATABASE_URL"] == f"sqlite:///{tmp_path / 'shop.db'}"
    assert "127.0.0.1:9101" in legacy.argv


def test_the_gateway_fronts_the_legacy_shop_and_keeps_admin_on_loopback(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, port_base=9100)
    gateway = {p.name: p for p in plan(settings)}["gateway"]
    assert gateway.url == "http://127.0.0.1:9100"
    assert gateway.env["GATEWAY_UPSTREAM_LEGACY"] == "http://127.0.0.1:9101"
    assert gateway.env["GATEWAY_ADMIN_HOST"] == "127.0.0.1"
    assert gateway.health == "http://127.0.0.1:9106/healthz"


def test_a_taken_port_is_reported_with_the_variable_that_moves_it(tmp_path: Path) -> None:
    with socket.socket() as taken, socket.socket() as spare:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        spare.bind(("127.0.0.1", 0))
        mail_port, smtp_port = spare.getsockname()[1], taken.getsockname()[1]
        spare.close()  # free again: only the SMTP port is taken
        overrides = (("mail", mail_port), ("smtp", smtp_port))
        mail = {p.name: p for p in plan(Settings(home=tmp_path, port_overrides=overrides))}["mail"]
        with pytest.raises(RunnerError) as refused:
            check_ports(mail, "127.0.0.1")
    assert f"port {smtp_port}" in str(refused.value)
    assert "STRANGLER_SMTP_PORT" in str(refused.value)  # not STRANGLER_MAIL_PORT
