"""Mail sink settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stand_ins.mail.config import SinkConfig
from stand_ins.mail.errors import ConfigError


@dataclass(frozen=True)
class MailSettings:
    smtp_port: int
    smtp_host: str = "127.0.0.1"
    db_path: Path = Path("mail.db")
    delay_ms: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.smtp_port <= 65_535:
            raise ConfigError(f"the SMTP port must be between 1 and 65535, not {self.smtp_port}")
        self.sink_config()  # validates delay_ms

    def sink_config(self) -> SinkConfig:
        """The tunables the sink starts with."""
        return SinkConfig(delay_ms=self.delay_ms)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MailSettings:
        env = os.environ if environ is None else environ
        if not env.get("MAIL_SMTP_PORT"):
            raise ConfigError("MAIL_SMTP_PORT is required")
        return cls(
            smtp_port=_int(env, "MAIL_SMTP_PORT", ""),
            smtp_host=env.get("MAIL_SMTP_HOST", "127.0.0.1"),
            db_path=Path(env.get("MAIL_DB_PATH", "mail.db")),
            delay_ms=_int(env, "MAIL_DELAY_MS", "0"),
        )


def _int(env: Mapping[str, str], name: str, default: str) -> int:
    raw = env.get(name, default)
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
