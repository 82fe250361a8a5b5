"""docker-compose.yml runs what the local runner runs: same commands, ports and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from strangler.parts import KEEP_ALIVE_S, Part, plan
from strangler.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


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
        assert published(services[name]) == set(part.ports), name
        if name == "redis":
            assert command[0] == "redis-server" and str(part.ports[0]) in command
            continue
        # same program and entry point; only the interpreter path and bind host differ
        assert command[:3] == ["python", "-m", part.argv[2]], name
        if not part.ports:  # a worker: no port, no factory argument
            assert command == ["python", "-m", *part.argv[2:]], name
            continue
        if name in ("gateway", "outbox-relay", "rollouts"):
            continue  # ports set by environment only, checked below
        entry = [arg for arg in part.argv if ":" in arg and not arg.startswith("127.")]
        assert entry and entry[0] in command, name
        assert any(str(part.ports[0]) in arg for arg in command), name
        # idle connections outlive the clients' pools, as under the runner
        keep_alive = [a for a in part.argv if a in ("--keep-alive", "--timeout-keep-alive")]
        assert keep_alive, name
        assert command[command.index(keep_alive[0]) + 1] == KEEP_ALIVE_S, name


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
    for name in (
        "gateway",
        "catalog",
        "orders",
        "payments-service",
    ):  # they must all share one dry-run key
        given = compose["services"][name]["environment"]["STRANGLER_DRY_RUN_KEY"]
        assert given == "${STRANGLER_DRY_RUN_KEY:-}", name
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
        for name, part in runner_parts(tmp_path).items()
        if name in ("gateway", "catalog", "orders", "payments-service", "analytics")
        or part.argv[2].startswith("new_services.")
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
