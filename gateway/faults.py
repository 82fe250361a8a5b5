"""Fault injection: a fixed delay or an error status for a share of a route's extracted requests."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

Clock = Callable[[], datetime]  # aware UTC datetimes
Random = Callable[[], float]  # uniform in [0, 1), like random.random

MAX_DELAY_MS = 60_000
MAX_FOR_S = 86_400  # a fault set through the admin API lasts a day at most
# the shape of RFC 3339's date-time; the offset is left out here to be refused as not UTC
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)?$")
KEYS = frozenset({"percent", "delay_ms", "abort_status", "until"})


class FaultError(ValueError):
    """A fault that cannot be used; the message says what is wrong."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Fault:
    """What a drawn request suffers: `delay_ms` before it is sent, then (with `abort_status`)
    an answer of that status instead of the upstream's. Inert from `until` on, so a
    forgotten drill ends by itself and nothing has to clean it up."""

    percent: float  # share of the route's extracted requests that draw it, 0 < percent <= 100
    until: datetime
    delay_ms: int | None = None
    abort_status: int | None = None

    @classmethod
    def parse(cls, raw: object) -> Fault:
        """A fault from its stored form: {percent, delay_ms?, abort_status?, until}."""
        if not isinstance(raw, Mapping):
            raise FaultError("fault must be a table of percent, delay_ms, abort_status, until")
        unknown = set(raw) - KEYS
        if unknown:
            raise FaultError(
                f"fault: unknown setting(s) {', '.join(sorted(map(str, unknown)))}; "
                f"known: {', '.join(sorted(KEYS))}"
            )
        percent = raw.get("percent")
        if not _number(percent) or not 0 < percent <= 100:
            raise FaultError(
                f"fault percent must be a number above 0, at most 100, not {percent!r}"
            )
        delay_ms = raw.get("delay_ms")
        if delay_ms is not None and (not _integer(delay_ms) or not 0 <= delay_ms <= MAX_DELAY_MS):
            raise FaultError(
                f"fault delay_ms must be an integer from 0 to {MAX_DELAY_MS}, not {delay_ms!r}"
            )
        abort = raw.get("abort_status")
        if abort is not None and (not _integer(abort) or not 400 <= abort <= 599):
            raise FaultError(
                f"fault abort_status must be an HTTP status from 400 to 599, not {abort!r}"
            )
        if delay_ms is None and abort is None:
            raise FaultError("a fault needs delay_ms, abort_status or both")
        return cls(
            percent=float(percent),
            until=parse_time(raw.get("until")),
            delay_ms=delay_ms,
            abort_status=abort,
        )

    def active(self, now: datetime) -> bool:
        return now < self.until

    def draws(self, random: Random) -> bool:
        """Whether one request draws the fault: `percent` in 100 of them do."""
        return random() * 100 < self.percent

    @property
    def kinds(self) -> tuple[str, ...]:
        """What a drawn request suffers, in the order it happens (for headers and metrics)."""
        return tuple(
            kind
            for kind, value in (("delay", self.delay_ms), ("abort", self.abort_status))
            if value is not None
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"percent": self.percent, "until": format_time(self.until)}
        if self.delay_ms is not None:
            out["delay_ms"] = self.delay_ms
        if self.abort_status is not None:
            out["abort_status"] = self.abort_status
        return out


def ending(now: datetime, for_s: object) -> str:
    """The `until` of a fault that starts `now` and lasts `for_s` seconds (1 s to a day)."""
    if not _number(for_s) or not 1 <= for_s <= MAX_FOR_S:
        raise FaultError(f"for_s must be a number of seconds from 1 to {MAX_FOR_S}, not {for_s!r}")
    return format_time(now + timedelta(seconds=for_s))


def parse_time(value: object) -> datetime:
    """An RFC 3339 time in UTC (`2026-12-06T12:04:05Z`); an offset other than zero is refused
    rather than converted, so the stored table says what the operator meant."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise FaultError(
            f"fault until must be an RFC 3339 UTC time such as 2026-12-06T12:04:05Z, not {value!r}"
        )
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError as exc:
        raise FaultError(f"fault until {value!r} is not an RFC 3339 time") from exc
    if moment.utcoffset() != timedelta(0):
        raise FaultError(f"fault until {value!r} must be in UTC (end it with Z)")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: object) -> TypeGuard[int | float]:
    # bool is an int to Python, never a number to an operator; NaN compares false to itself
    return not isinstance(value, bool) and isinstance(value, int | float) and value == value


def _integer(value: object) -> TypeGuard[int]:
    return not isinstance(value, bool) and isinstance(value, int)
