"""Structured logs: one JSON object per line, with the request id and route when there is
one (the kit's one formatter, `new_services/platform/logs.py`)."""

from __future__ import annotations

from new_services.platform.logs import JsonFormatter, configure

__all__ = ["JsonFormatter", "configure"]
