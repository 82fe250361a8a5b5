"""docker-compose.yml runs what the local runner runs: same commands, ports and settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from strangler.parts import KEEP_ALIVE_S, Part, plan
from strangler.registry import PARTS, Kind, upstreams
from strangler.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KINDS = {entry.name: entry.kind for entry in PARTS}
COMPOSE_ONLY = {"postgres", "migrate", "jaeger"}  # the database, its migration, traces


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def runner_parts(tmp_path: Path) -> dict[str, Part]:
    return {p.name: p for p in plan(Settings(home=tmp_path, port_base=8000))}


def published(service: dict[str, Any]) -> set[int]:
    return {int(str(mapping).rsplit(":", 1)[1]) for mapping in service.get("ports", [])}


def test_every_runner_part_is_a_compose_service_listening_on_the_same_ports(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    services = compose["services"]
    for name, part in runner_parts(tmp_path).items():
        assert name in services, f"{name} is missing from docker-compose.yml"
        command = [str(arg) for arg in services[name]["command"]]
        assert published(services[name]) == set(part.ports), (
            f"{name}: docker-compose.yml publishes {sorted(published(services[name]))}, "
            f"the registry gives it {sorted(part.ports)}"
        )
        kind = KINDS[name]
        if kind is Kind.REDIS:
            assert command[0] == "redis-server" and str(part.ports[0]) in command
            continue
        # same program and entry point; only the interpreter path and bind host differ
        assert command[:3] == ["python", "-m", part.argv[2]], name
        if kind in (Kind.WORKER, Kind.GATEWAY, Kind.CONTROLLER):
            # `python -m module`, nothing more: its ports come from its environment (below)
            assert command == ["python", "-m", *part.argv[2:]], name
            continue
        entry = [arg for arg in part.argv if ":" in arg and not arg.startswith("127.")]
        assert entry and entry[0] in command, name
        assert any(str(part.ports[0]) in arg for arg in command), name
        # idle connections outlive the clients' pools, as under the runner
        keep_alive = [a for a in part.argv if a in ("--keep-alive", "--timeout-keep-alive")]
        assert keep_alive, name
        assert command[command.index(keep_alive[0]) + 1] == KEEP_ALIVE_S, name


def test_compose_runs_no_part_the_registry_lacks(compose: dict[str, Any]) -> None:
    unknown = sorted(set(compose["services"]) - COMPOSE_ONLY - set(KINDS))
    assert not unknown, f"{unknown}: in docker-compose.yml, not in strangler/registry.py"


def test_compose_wires_each_part_to_the_ports_and_parts_the_runner_does(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """Where the runner gives a part another part's URL or a port, compose gives the same
    port, and a URL by that part's service name."""
    parts = runner_parts(tmp_path)
    owner = {port: name for name, part in parts.items() for port in part.ports}
    for name, part in parts.items():
        environment = compose["services"][name].get("environment", {})
        for key, value in part.env.items():
            url = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", value)
            if url:
                port = int(url[1])
                expected = f"http://{owner[port]}:{port}"
                assert environment.get(key) == expected, f"{name}: {key} should be {expected}"
            elif key.endswith("_PORT"):
                assert str(environment.get(key)) == value, f"{name}: {key} should be {value}"


def test_the_gateways_in_compose_route_to_every_upstream_of_the_registry_and_no_other(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    parts = runner_parts(tmp_path)
    declared = {
        f"GATEWAY_UPSTREAM_{upstream.upper()}": (part, f"http://{part}:{parts[part].ports[0]}")
        for upstream, part in upstreams(Settings(home=tmp_path)).items()
    }
    for gateway in ("gateway", "rollouts"):
        environment = compose["services"][gateway]["environment"]
        for key, (part, url) in declared.items():
            assert environment.get(key) == url, (
                f"{part}: the {gateway} service in docker-compose.yml lacks {key}: {url}"
            )
        given = {key for key in environment if key.startswith("GATEWAY_UPSTREAM_")}
        assert given <= set(declared), f"{gateway}: upstreams no part serves in compose"


def test_compose_services_get_every_setting_the_runner_gives_them(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    services = compose["services"]
    for name, part in runner_parts(tmp_path).items():
        environment = services[name].get("environment", {})
        assert set(part.env) <= set(environment), f"{name} lacks {set(part.env) - set(environment)}"


def test_the_shop_reaches_its_dependencies_by_service_name_and_waits_for_them(
    compose: dict[str, Any],
) -> None:
    legacy = compose["services"]["legacy"]
    env = legacy["environment"]
    assert env["PAYMENTS_URL"] == "http://payments:8002"
    assert (
        env["SMTP_HOST"] == "mail"
        and env["SMTP_PORT"] == compose["services"]["mail"]["environment"]["MAIL_SMTP_PORT"]
    )
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert set(legacy["depends_on"]) == {"migrate", "payments", "mail"}
    assert legacy["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_a_part_that_needs_the_migrated_schema_waits_for_the_migration(
    compose: dict[str, Any],
) -> None:
    for entry in PARTS:
        if entry.needs_schema:
            waits = compose["services"][entry.name].get("depends_on", {}).get("migrate")
            assert waits == {"condition": "service_completed_successfully"}, (
                f"{entry.name} needs the migrated schema: in docker-compose.yml it should "
                "depend on migrate (condition: service_completed_successfully)"
            )


def test_the_schema_is_expanded_before_the_shop_starts_and_never_contracted_by_itself(
    compose: dict[str, Any],
) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["strangler", "migrate", "upgrade", "expand"]
    assert migrate["restart"] == "no"
    assert (
        migrate["environment"]["DATABASE_URL"]
        == compose["services"]["legacy"]["environment"]["DATABASE_URL"]
    )
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_no_secret_is_written_into_the_compose_file(compose: dict[str, Any]) -> None:
    password = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${POSTGRES_PASSWORD")
    for entry in PARTS:  # from the environment, so the gateway and the services share them
        for secret in entry.secrets:
            given = compose["services"][entry.name]["environment"].get(secret)
            assert given == f"${{{secret}:-}}", f"{entry.name}: {secret} should be ${{{secret}:-}}"
    # Redis wants a password, from the environment, and every part that uses it gives it
    redis = compose["services"]["redis"]
    assert "--requirepass" in redis["command"]
    for name, service in compose["services"].items():
        for key, value in service.get("environment", {}).items():
            if isinstance(value, str) and value.startswith("redis://"):
                assert value.startswith("redis://:${REDIS_PASSWORD"), (name, key)


def test_the_image_installs_with_the_pinned_constraints() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile
    for folder in ("legacy_app", "stand_ins", "strangler", "gateway", "migrations"):
        assert f"COPY {folder} " in dockerfile


def test_every_traced_part_can_send_its_spans_to_jaeger_when_asked(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """`OTEL_TRACES_EXPORTER=otlp docker compose --profile tracing up`: the parts that trace
    (their entry point calls `tracing.configure`) send OTLP to Jaeger; the image has the
    exporter; Jaeger starts only with the profile."""
    services = compose["services"]
    traced = {
        name
        for name in runner_parts(tmp_path)
        if KINDS[name] in (Kind.GATEWAY, Kind.SERVICE, Kind.WORKER)
    }
    assert {"gateway", "orders", "outbox-relay", "catalog-worker", "notifications"} <= traced
    for name in traced:
        environment = services[name]["environment"]
        assert environment["OTEL_TRACES_EXPORTER"] == "${OTEL_TRACES_EXPORTER:-none}", name
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318", name
    assert services["jaeger"]["profiles"] == ["tracing"]
    assert '".[otlp]"' in (ROOT / "Dockerfile").read_text()


def test_docker_starts_again_every_long_running_part_that_dies(compose: dict[str, Any]) -> None:
    """Under compose, Docker is the supervisor (`strangler up --watch` is the runner's)."""
    for name, service in compose["services"].items():
        if name == "migrate" or service.get("profiles"):
            continue  # a one-off step; an opt-in extra (Jaeger)
        assert service.get("restart") == "unless-stopped", name
