"""Shared fixtures: the running stack, started by the runner unless SHOP_URL points at one."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import hypothesis
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from strangler.parts import admin_token, redis_part
from strangler.runner import Stack, port_is_free, running
from strangler.settings import PORT_OFFSETS, Settings

# The suite shares two cores with the processes its other tests start, so a property test
# may stall for a second now and then: it is judged on what it finds, never on its speed.
hypothesis.settings.register_profile(
    "shared-machine", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("shared-machine")


def pytest_configure(config: pytest.Config) -> None:
    """On PostgreSQL the whole run works in a database of its own, made now and dropped at
    the end. The server's database (DATABASE_URL's, `test` in CI) outlives every run, and CI
    reuses the machine: left to pile up there, the orders of every run ever made it slower
    (the legacy report scans them all, SMELL(report-scan)). Stacks, the CLI and the tests'
    own fresh databases all follow DATABASE_URL, so they all land in the run's database."""
    server = os.environ.get("DATABASE_URL")
    if not server or server.startswith("sqlite") or os.environ.get("SHOP_URL"):
        return
    url = make_url(server)
    name = f"strangler_run_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    os.environ["DATABASE_URL"] = url.set(database=name).render_as_string(hide_password=False)
    config.stash[_RUN_DATABASE] = (server, name)


def pytest_unconfigure(config: pytest.Config) -> None:
    made = config.stash.get(_RUN_DATABASE, None)
    if made is None:
        return
    server, name = made
    os.environ["DATABASE_URL"] = server
    admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for stack_database in _STACK_DATABASES:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{stack_database}" WITH (FORCE)'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


_RUN_DATABASE = pytest.StashKey[tuple[str, str]]()
_STACK_DATABASES: list[str] = []  # made by stack_database_url, dropped with the run's


def stack_database_url() -> str | None:
    """A PostgreSQL database of its own for one stack (None on SQLite: a stack's shop.db is
    in its own home already).

    Stacks must never share a database. Each stack's background parts act on every row they
    find: the outbox relay publishes any unpublished event onto its own Redis namespace, the
    payments settler asks its own provider about any pending payment. Two stacks on one
    database (the contract suite's, still up, and a drill's) took each other's e-mails and
    voided each other's payments in CI's PostgreSQL run.
    """
    server = os.environ.get("DATABASE_URL")
    if not server or server.startswith("sqlite"):
        return None
    url = make_url(server)
    name = f"strangler_stack_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    _STACK_DATABASES.append(name)
    return url.set(database=name).render_as_string(hide_password=False)


# Every gateway the tests start (through the runner or directly) mirrors whatever its route
# samples: the tests count mirror outcomes exactly, on a small machine where a gateway's loop
# is busy because of the other processes as much as its own load. Shedding mirrors while
# busy (gateway/load.py) has unit tests of its own.
os.environ.setdefault("GATEWAY_SHADOW_MAX_BUSY", "1")


@dataclass(frozen=True)
class StackUrls:
    shop: str  # what clients use: the gateway
    payments: str
    mail: str
    legacy: str  # the legacy shop itself, behind the gateway
    # how the gateway routes the shop: legacy, canary, extracted (both to a legacy clone),
    # services (to the extracted services), services-canary (half the keys to them),
    # services-only (services, with legacy retired and stopped), external
    mode: str = "legacy"


def free_port_base(host: str = "127.0.0.1") -> int:
    """A base port whose whole block of part ports is free right now.

    The block lies below the kernel's ephemeral range (Linux: 32768-60999, macOS: from
    49152): a port in that range can be taken by any outgoing connection between our check
    and the part's bind, which is how a CI run once lost its gateway.
    """
    span = max(PORT_OFFSETS.values()) + 1
    rng = random.Random()
    # Two test runs side by side (CI runs SQLite and PostgreSQL at once) each get a range of
    # their own, so neither can take a block between the other's check and its bind.
    low, high = (int(n) for n in os.environ.get("STRANGLER_TEST_PORTS", "15000-32000").split("-"))
    for _ in range(200):
        base = rng.randrange(low, high - span, 20)
        if all(port_is_free(host, base + offset) for offset in range(span)):
            return base
    raise RuntimeError("no free block of ports found")


def stack_settings(home: Path) -> Settings:
    """Settings for a throw-away stack in `home` on free ports, with a database of its own
    (a new PostgreSQL database on DATABASE_URL's server; REDIS_URL applies)."""
    settings = Settings.from_env()
    return replace(
        settings,
        database_url=stack_database_url() or settings.database_url,
        home=home,
        port_base=free_port_base(),
        port_overrides=(),
        namespace=f"test-{uuid.uuid4().hex[:12]}",  # a shared Redis may hold other stacks' keys
    )


CLONE_ROUTES = Path(__file__).parent / "contract" / "routes_clone.toml"


def contract_modes() -> list[str]:
    """How the gateway routes the shop while the contract suite runs (CONTRACT_MODES)."""
    if os.environ.get("SHOP_URL"):
        return ["external"]
    modes = os.environ.get(
        "CONTRACT_MODES", "legacy,canary,extracted,services,services-canary,services-only"
    ).split(",")
    known = {"legacy", "canary", "extracted", "services", "services-canary", "services-only"}
    unknown = set(modes) - known
    if unknown:
        raise pytest.UsageError(f"CONTRACT_MODES: unknown mode(s) {', '.join(sorted(unknown))}")
    return modes


def route_everything(settings: Settings, mode: str, fallback: bool = True) -> None:
    """Put every route of the table into `mode` (canary: half the keys)."""
    admin = httpx.Client(
        base_url=settings.url("gateway-admin"),
        headers={"Authorization": f"Bearer {admin_token(settings)}"},
        timeout=10,
    )
    with admin:
        for route in admin.get("/routes").json()["routes"]:
            change = {"mode": mode, "reason": f"contract suite in {mode} mode"}
            if not fallback:
                change["fallback"] = False
            if mode == "canary":
                change["weight"] = 50
            response = admin.patch(f"/routes/{route['name']}", json=change)
            assert response.status_code == 200, response.text


def retire_legacy(settings: Settings, stack: Stack) -> None:
    """What `strangler retire legacy` does once its checks pass (tests/e2e/test_retire.py
    drives the command itself): the audited change, then legacy stopped."""
    with httpx.Client(
        base_url=settings.url("gateway-admin"),
        headers={"Authorization": f"Bearer {admin_token(settings)}"},
        timeout=10,
    ) as admin:
        response = admin.post("/retire", json={"upstream": "legacy", "reason": "services-only"})
        assert response.status_code == 200, response.text
    assert stack.retire("legacy")


def targets_served(settings: Settings) -> dict[str, float]:
    """Requests the gateway answered per target, from its Prometheus metrics."""
    text = httpx.get(settings.url("gateway-admin") + "/metrics", timeout=10).text
    served: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_requests_total":
                target = sample.labels["target"]
                served[target] = served.get(target, 0) + sample.value
    return served


@pytest.fixture(scope="session", params=contract_modes())
def stack_urls(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackUrls]:
    """The shop behind the gateway, on the expanded schema (`up` migrates): in legacy mode;
    with a legacy clone as the "extracted" upstream in canary and extracted modes; or with
    every shop route (users too) in extracted mode to the extracted services, with no
    fallback to legacy (services), and with legacy retired and stopped (services-only); or
    in canary mode, half the keys to the services and half to legacy, on one database
    (services-canary; a sign-up has no key, so legacy)."""
    mode: str = request.param
    if mode == "external":
        yield StackUrls(
            shop=os.environ["SHOP_URL"],
            payments=os.environ["PAYMENTS_URL"],
            mail=os.environ["MAIL_URL"],
            legacy=os.environ.get("LEGACY_URL", os.environ["SHOP_URL"]),
            mode="external",
        )
        return
    settings = stack_settings(tmp_path_factory.mktemp(f"stack-{mode}"))
    if mode in ("canary", "extracted"):
        settings = replace(settings, legacy_clone=True, routes_file=CLONE_ROUTES)
    stack = Stack(settings)
    stack.up()
    try:
        if mode in ("services", "services-only"):
            route_everything(settings, "extracted", fallback=False)
            if mode == "services-only":
                retire_legacy(settings, stack)
        elif mode == "services-canary":
            route_everything(settings, "canary", fallback=False)
        elif mode != "legacy":
            route_everything(settings, mode)
        yield StackUrls(
            shop=settings.url("gateway"),
            payments=settings.url("payments"),
            mail=settings.url("mail"),
            legacy=settings.url("legacy"),
            mode=mode,
        )
        if mode != "legacy":
            served = targets_served(settings)
            # the suite really ran on the extracted side (and, in the canary modes, on both
            # sides); in services mode every shop route is extracted, users included
            assert served.get("extracted", 0) > 0, served
            assert (
                mode in ("extracted", "services", "services-only") or served.get("legacy", 0) > 0
            ), served
            # with legacy retired, not one request went to it
            assert mode != "services-only" or served.get("legacy", 0) == 0, served
    finally:
        stack.down()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when set, else an embedded redis-server started for this test session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    home = tmp_path_factory.mktemp("redis")
    port = free_port_base()
    part = redis_part("redis", "127.0.0.1", port, home, persist=False)
    with running(part, home):
        yield part.url


@pytest.fixture
def provider_url(tmp_path: Path) -> Iterator[str]:
    """The provider stand-in as a real process (legacy calls it over the network)."""
    from tests.integration.processes import uvicorn_part

    env = {"PAYMENTS_DB_PATH": str(tmp_path / "provider.db")}
    part = uvicorn_part("provider", "stand_ins.payments.app:create_app", free_port_base(), env)
    with running(part, tmp_path):
        yield part.url


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Make empty databases on demand: SQLite files, or PostgreSQL databases created for
    the test and dropped after it."""
    server_url = os.environ.get("DATABASE_URL")
    if not server_url or server_url.startswith("sqlite"):
        counter = iter(range(1_000))
        yield lambda: f"sqlite:///{tmp_path / f'fresh-{next(counter)}.db'}"
        return
    url = make_url(server_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make() -> str:
        name = f"strangler_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return url.set(database=name).render_as_string(hide_password=False)

    try:
        yield make
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def fresh_database_url(new_database: Callable[[], str]) -> str:
    """A new empty SQLite file, or a PostgreSQL database created and dropped around the test."""
    return new_database()
