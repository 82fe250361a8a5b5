"""Gateway settings, read once from the environment into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROUTES_FILE = Path(__file__).with_name("routes.toml")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class GatewaySettingsError(ValueError):
    """The environment asks for something the gateway refuses to run with."""


def _tokens(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """GATEWAY_ADMIN_TOKENS="alice:tok1,bob:tok2" and/or GATEWAY_ADMIN_TOKEN (named "admin")."""
    tokens: list[tuple[str, str]] = []
    for item in (environ.get("GATEWAY_ADMIN_TOKENS") or "").split(","):
        if item.strip():
            name, sep, token = item.strip().partition(":")
            if not sep or not name or len(token) < 16:
                raise GatewaySettingsError(
                    "GATEWAY_ADMIN_TOKENS entries are name:token with tokens of 16+ characters"
                )
            _refuse_weak(token, f"GATEWAY_ADMIN_TOKENS ({name}'s token)")
            tokens.append((name, token))
    single = environ.get("GATEWAY_ADMIN_TOKEN")
    if single:
        if len(single) < 16:
            raise GatewaySettingsError("GATEWAY_ADMIN_TOKEN must be at least 16 characters")
        _refuse_weak(single, "GATEWAY_ADMIN_TOKEN")
        tokens.append(("admin", single))
    return tuple(tokens)


def _refuse_weak(token: str, where: str) -> None:
    """Length alone let 16 spaces through: count what is left without padding, and refuse
    one character repeated. The message never shows the token."""
    if len(token.strip()) < 16:
        raise GatewaySettingsError(
            f"{where} must hold at least 16 characters besides leading and trailing "
            "whitespace (try: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if len(set(token)) == 1:
        raise GatewaySettingsError(f"{where} is one character repeated: use a random token")


UPSTREAM_CLIENTS = ("http1", "aiohttp")


@dataclass(frozen=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 8000
    admin_host: str = "127.0.0.1"
    admin_port: int = 8006
    routes_file: Path = DEFAULT_ROUTES_FILE
    upstream_overrides: tuple[tuple[str, str], ...] = ()
    max_body_bytes: int = 1024 * 1024
    stream_from_bytes: int = 1024 * 1024  # larger request bodies stream, smaller are buffered
    internal_token: str | None = field(default=None, repr=False)  # secrets stay out of logs
    # signs dry runs so the services can tell them from forgeries (STRANGLER_DRY_RUN_KEY,
    # shared with them; new_services/platform/dry_run.py)
    dry_run_key: str | None = field(default=None, repr=False)
    # (name, token): the name goes into the audit log
    admin_tokens: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # the shared route store (its URL may hold its password); without it, an in-memory one
    redis_url: str | None = field(default=None, repr=False)
    namespace: str = "strangler:gateway"
    poll_interval_s: float = 0.25
    tracing: bool = False  # a span per request (OTEL_TRACES_EXPORTER names an exporter)
    shadow_concurrency: int = 8  # mirrors in flight at once, per instance
    shadow_queue: int = 256  # mirrors waiting; beyond this they are dropped and counted
    # mirrors are dropped while the event loop is busier than this share of the time
    # (gateway/load.py); 1: never
    shadow_max_busy: float = 0.8
    upstream_client: str = "http1"  # the proxy's client: "http1" (gateway/http1.py) or "aiohttp"
    # read timeouts of both listeners (gateway/listener.py): a request's headers must all
    # arrive within header_timeout_s of the connection (or the request's first byte), its
    # body within body_timeout_s of its headers
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    # where the outbox relay keeps each read model's lag (new_services/outbox_relay/lag.py),
    # and the most a route's read model may lag for it to move (gateway/coexistence.py)
    capture_lag_key: str = "strangler:capture:lag"
    read_model_max_lag_s: float = 5.0
    # how often this instance adds its per-route signals to the shared store
    # (gateway/signals.py): a rollout gate sees a request at most this much later
    signals_flush_s: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> GatewaySettings:
        prefix = "GATEWAY_UPSTREAM_"
        overrides = tuple(
            sorted(
                (k[len(prefix) :].lower(), v)
                for k, v in environ.items()
                if k.startswith(prefix) and v
            )
        )
        try:
            settings = cls(
                host=environ.get("GATEWAY_HOST", "127.0.0.1"),
                port=int(environ.get("GATEWAY_PORT", "8000")),
                admin_host=environ.get("GATEWAY_ADMIN_HOST", "127.0.0.1"),
                admin_port=int(environ.get("GATEWAY_ADMIN_PORT", "8006")),
                routes_file=Path(environ.get("GATEWAY_ROUTES_FILE") or DEFAULT_ROUTES_FILE),
                upstream_overrides=overrides,
                max_body_bytes=int(environ.get("GATEWAY_MAX_BODY_BYTES", str(1024 * 1024))),
                stream_from_bytes=int(environ.get("GATEWAY_STREAM_FROM_BYTES", str(1024 * 1024))),
                internal_token=environ.get("GATEWAY_INTERNAL_TOKEN") or None,
                dry_run_key=environ.get("STRANGLER_DRY_RUN_KEY") or None,
                admin_tokens=_tokens(environ),
                redis_url=environ.get("GATEWAY_REDIS_URL") or None,
                namespace=environ.get("GATEWAY_NAMESPACE", "strangler:gateway"),
                poll_interval_s=float(environ.get("GATEWAY_POLL_INTERVAL_S", "0.25")),
                tracing=environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() != "none",
                shadow_concurrency=int(environ.get("GATEWAY_SHADOW_CONCURRENCY", "8")),
                shadow_queue=int(environ.get("GATEWAY_SHADOW_QUEUE", "256")),
                shadow_max_busy=float(environ.get("GATEWAY_SHADOW_MAX_BUSY", "0.8")),
                upstream_client=environ.get("GATEWAY_HTTP_CLIENT", "http1").strip().lower(),
                header_timeout_s=float(environ.get("GATEWAY_HEADER_TIMEOUT_S", "10")),
                body_timeout_s=float(environ.get("GATEWAY_BODY_TIMEOUT_S", "30")),
                capture_lag_key=environ.get("GATEWAY_CAPTURE_LAG_KEY", "strangler:capture:lag"),
                read_model_max_lag_s=float(environ.get("GATEWAY_READ_MODEL_MAX_LAG_S", "5")),
                signals_flush_s=float(environ.get("GATEWAY_SIGNALS_FLUSH_S", "1")),
            )
        except GatewaySettingsError:
            raise  # already says what is wrong (a token, say), not that a number is
        except ValueError as exc:
            raise GatewaySettingsError(
                f"a GATEWAY_* port, size or limit is not a number: {exc}"
            ) from exc
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.admin_host not in LOOPBACK and not self.admin_tokens:
            raise GatewaySettingsError(
                f"refusing to expose the admin listener on {self.admin_host} "
                "without GATEWAY_ADMIN_TOKEN"
            )
        if self.max_body_bytes < 0:
            raise GatewaySettingsError("GATEWAY_MAX_BODY_BYTES must not be negative")
        if not 0 < self.shadow_max_busy <= 1:
            raise GatewaySettingsError(
                "GATEWAY_SHADOW_MAX_BUSY is a share of the time, over 0 and at most 1 "
                f"(1 never drops a mirror for load), not {self.shadow_max_busy}"
            )
        for name, value in (
            ("GATEWAY_HEADER_TIMEOUT_S", self.header_timeout_s),
            ("GATEWAY_BODY_TIMEOUT_S", self.body_timeout_s),
        ):
            if not 0 < value < float("inf"):
                raise GatewaySettingsError(f"{name} is a number of seconds over 0, not {value}")
        if not 0 < self.signals_flush_s <= 60:
            raise GatewaySettingsError(
                "GATEWAY_SIGNALS_FLUSH_S is a number of seconds over 0 and at most 60 (a "
                f"rollout gate waits that long for a request's signal), not {self.signals_flush_s}"
            )
        if self.upstream_client not in UPSTREAM_CLIENTS:
            raise GatewaySettingsError(
                f"GATEWAY_HTTP_CLIENT must be one of {', '.join(UPSTREAM_CLIENTS)}, "
                f"not {self.upstream_client!r}"
            )
