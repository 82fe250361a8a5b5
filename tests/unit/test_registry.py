"""The registry of parts: a mistake in an entry fails here, not at `strangler up`."""

from __future__ import annotations

import importlib
import importlib.util
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from new_services.outbox_relay.routes import QUEUES
from strangler.parts import SECRETS, plan
from strangler.registry import PARTS, Kind, Port, port_offsets, upstreams
from strangler.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def routes_file_upstreams(path: Path) -> set[str]:
    return set(tomllib.loads(path.read_text())["upstreams"])


def test_the_gateways_routes_file_names_exactly_the_registrys_upstreams(tmp_path: Path) -> None:
    declared = upstreams(Settings(home=tmp_path))
    in_file = routes_file_upstreams(ROOT / "gateway" / "routes.toml")
    for upstream, part in declared.items():
        assert upstream in in_file, f"{part}: gateway/routes.toml's [upstreams] lacks {upstream}"
    assert in_file <= set(declared), "gateway/routes.toml names upstreams no part serves"


def test_the_clone_routes_use_only_upstreams_the_clone_stack_has(tmp_path: Path) -> None:
    clone = upstreams(Settings(home=tmp_path, legacy_clone=True))
    assert set(clone) - set(upstreams(Settings(home=tmp_path))) == {"clone"}
    assert clone["clone"] == "legacy-clone"
    assert routes_file_upstreams(ROOT / "tests" / "contract" / "routes_clone.toml") <= set(clone)


def test_the_gateway_and_the_controller_get_a_url_for_each_upstream(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, port_base=9100, legacy_clone=True)
    parts = {p.name: p for p in plan(settings)}
    for name in ("gateway", "rollouts"):
        given = {k: v for k, v in parts[name].env.items() if k.startswith("GATEWAY_UPSTREAM_")}
        assert given == {
            "GATEWAY_UPSTREAM_LEGACY": "http://127.0.0.1:9101",
            "GATEWAY_UPSTREAM_CLONE": "http://127.0.0.1:9107",
            "GATEWAY_UPSTREAM_CATALOG": "http://127.0.0.1:9109",
            "GATEWAY_UPSTREAM_ORDERS": "http://127.0.0.1:9110",
            "GATEWAY_UPSTREAM_ANALYTICS": "http://127.0.0.1:9111",
            "GATEWAY_UPSTREAM_USERS": "http://127.0.0.1:9114",
        }, name


def test_each_entry_runs_code_that_exists() -> None:
    for entry in PARTS:
        if entry.kind is Kind.REDIS:
            continue
        module, _, factory = entry.runs.partition(":")
        assert importlib.util.find_spec(module) is not None, f"{entry.name}: no module {module}"
        if factory:  # an ASGI factory, or legacy's WSGI app "create_app()"
            name = factory.removesuffix("()")
            found = getattr(importlib.import_module(module), name, None)
            assert callable(found), f"{entry.name}: {module} has no {name}"


def test_each_entry_is_reachable_where_its_health_check_and_upstream_say() -> None:
    for entry in PARTS:
        own = [port.name for port in entry.ports]
        if entry.health.check == "http":
            assert entry.health.on in own, f"{entry.name}: health checked on another's port"
        if entry.upstream is not None:  # the gateway sends HTTP to its first port
            assert entry.kind in (Kind.SERVICE, Kind.LEGACY) and own, entry.name
        if entry.kind in (Kind.REDIS, Kind.STAND_IN, Kind.SERVICE, Kind.LEGACY, Kind.GATEWAY):
            assert own, f"{entry.name}: a {entry.kind} part listens on a port"
        assert set(entry.secrets) <= set(SECRETS), f"{entry.name}: unknown secret"


def test_a_port_offset_two_parts_claim_is_refused_naming_both() -> None:
    orders = next(e for e in PARTS if e.name == "orders")
    reviews = replace(orders, name="reviews", ports=(Port("reviews", 10),), upstream="reviews")
    with pytest.raises(ValueError, match="reviews: port offset 10 is taken by orders"):
        port_offsets([*PARTS, reviews])
    again = replace(reviews, ports=(Port("orders", 15),))
    with pytest.raises(ValueError, match="reviews: port name 'orders' is taken by orders"):
        port_offsets([*PARTS, again])


def test_every_queue_the_relay_feeds_has_a_worker_part_and_every_worker_a_queue() -> None:
    workers = {e.health.on: e.name for e in PARTS if e.health.check == "queue"}
    for queue in QUEUES:
        assert queue in workers, f"the relay sends events to queue {queue}: no part works it"
    for queue, part in workers.items():
        assert queue in QUEUES, f"{part}: works queue {queue}, which no event is sent to"
