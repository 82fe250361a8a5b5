"""Runner settings, read once from the environment into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from strangler import registry

# Each port is port_base + its offset (strangler/registry.py declares both) unless
# STRANGLER_<PORT>_PORT says otherwise.
PORT_OFFSETS = registry.PORT_OFFSETS

# in the home: the password of the runner's own Redis (a file name, not a password)
REDIS_PASSWORD_FILE = "redis.password"  # noqa: S105


def shown(url: str) -> str:
    """`url` as it may be printed or logged: without its password (user:password@ or
    ?password=)."""
    parts = urlsplit(url)
    query = "&".join(
        pair for pair in parts.query.split("&") if pair and not pair.startswith("password=")
    )
    netloc = parts.netloc
    if parts.password is not None:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class SettingsError(ValueError):
    """An environment variable holds a value the runner cannot use."""


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    home: Path
    host: str = "127.0.0.1"
    port_base: int = 8000
    port_overrides: tuple[tuple[str, int], ...] = ()
    database_url: str | None = None
    redis_url: str | None = None
    mail_delay_ms: int = 0
    payments_latency_ms: int = 0
    payments_failure_rate: float = 0.0
    start_timeout_s: float = 30.0
    namespace: str = "strangler"  # prefix of every Redis key the stack writes
    # A second legacy instance on the same database, as a stand-in "extracted" upstream
    # (upstream name "clone") until the real services exist; with a routes file that uses it.
    legacy_clone: bool = False
    routes_file: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        overrides = []
        for part in PORT_OFFSETS:
            key = f"STRANGLER_{part.upper().replace('-', '_')}_PORT"
            if environ.get(key):
                overrides.append((part, _int(environ, key, 0)))
        settings = cls(
            home=Path(environ.get("STRANGLER_HOME") or ".strangler").resolve(),
            port_base=_int(environ, "STRANGLER_PORT_BASE", 8000),
            port_overrides=tuple(overrides),
            database_url=environ.get("DATABASE_URL") or None,
            redis_url=environ.get("REDIS_URL") or None,
            mail_delay_ms=_int(environ, "STRANGLER_MAIL_DELAY_MS", 0),
            payments_latency_ms=_int(environ, "STRANGLER_PAYMENTS_LATENCY_MS", 0),
            payments_failure_rate=_float(environ, "STRANGLER_PAYMENTS_FAILURE_RATE", 0.0),
            start_timeout_s=_float(environ, "STRANGLER_START_TIMEOUT", 30.0),
            namespace=environ.get("STRANGLER_NAMESPACE") or "strangler",
            legacy_clone=environ.get("STRANGLER_LEGACY_CLONE", "") in ("1", "true", "yes"),
            routes_file=Path(environ["STRANGLER_ROUTES_FILE"]).resolve()
            if environ.get("STRANGLER_ROUTES_FILE")
            else None,
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        for part in PORT_OFFSETS:
            port = self.port(part)
            if not 1 <= port <= 65535:
                raise SettingsError(f"port for {part} is {port}, outside 1..65535")
        if not 0.0 <= self.payments_failure_rate <= 1.0:
            raise SettingsError("STRANGLER_PAYMENTS_FAILURE_RATE must be between 0 and 1")

    def port(self, part: str) -> int:
        return dict(self.port_overrides).get(part, self.port_base + PORT_OFFSETS[part])

    def url(self, part: str) -> str:
        return f"http://{self.host}:{self.port(part)}"

    @property
    def shop_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'shop.db'}"

    @property
    def shop_redis_url(self) -> str:
        """REDIS_URL, else the runner's own Redis, with the password `up` generated for it."""
        if self.redis_url:
            return self.redis_url
        password = self.embedded_redis_password
        auth = f":{password}@" if password else ""
        return f"redis://{auth}{self.host}:{self.port('redis')}/0"

    @property
    def embedded_redis_password(self) -> str:
        """STRANGLER_REDIS_PASSWORD, else the one `up` kept in the home (0600); "" before."""
        given = os.environ.get("STRANGLER_REDIS_PASSWORD")
        if given:
            return given
        kept = self.home / REDIS_PASSWORD_FILE
        return kept.read_text().strip() if kept.exists() else ""

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"
