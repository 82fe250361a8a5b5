"""What a rollout is asked to do: its steps, interval, gates and limits, parsed and validated
from the CLI's flags, the admin API's JSON or a declarative TOML file (one form: a mapping)."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from gateway.rollouts.gates import Gate, GateError, parse_gate

MAX_STEPS = 20
MAX_GATES = 10
MAX_CHECKS = 5
MAX_TEXT_CHARS = 100  # a duration or a steps list written as text
MAX_URL_CHARS = 2000
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class SpecError(ValueError):
    """A rollout that cannot be started as asked; the message says what is wrong."""


def parse_duration(value: object, what: str) -> float:
    """Seconds from `30`, `30s`, `500ms`, `2m` or `1h`."""
    if isinstance(value, bool):
        raise SpecError(f"{what} must be a duration such as 30s, 500ms or 2m")
    if isinstance(value, int | float):
        return _float(value, what)
    # bounded before the pattern, whose runs of spaces cost quadratic time when it fails
    text = value if isinstance(value, str) and len(value) <= MAX_TEXT_CHARS else None
    found = _DURATION.match(text) if text is not None else None
    if found is None:
        shown = repr(value)[:MAX_TEXT_CHARS]
        raise SpecError(f"{what} must be a duration such as 30s, 500ms or 2m, not {shown}")
    return float(found.group(1)) * _UNIT_S[found.group(2)]


def _float(value: int | float, what: str) -> float:
    """A JSON number as a float: a 400-digit integer is too large for one (OverflowError)."""
    try:
        return float(value)
    except OverflowError as exc:
        raise SpecError(f"{what}: {str(value)[:20]}... is too large a number") from exc


@dataclass(frozen=True)
class Check:
    """A pre-promotion check (Flagger's confirm-promotion webhook): a URL that must answer
    2xx to a GET before the rollout's routes are promoted to their extracted side."""

    url: str

    @classmethod
    def parse(cls, value: object) -> Check:
        url = value.get("url") if isinstance(value, Mapping) else value
        if not isinstance(url, str):
            raise SpecError("a check is a URL (or {url = ...}) that must answer 2xx")
        if len(url) > MAX_URL_CHARS:
            raise SpecError(f"check {url[:100]!r}... is longer than {MAX_URL_CHARS} characters")
        try:
            parts = urlsplit(url)
        except ValueError:  # an unbalanced [ in the host
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SpecError(f"check {url[:100]!r} is not an http(s) URL")
        address = _address(parts.hostname)
        if address is not None and (
            address.is_link_local or address.is_multicast or address.is_unspecified
        ):
            raise SpecError(f"check {url[:100]!r}: link-local, multicast or unspecified address")
        return cls(url)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` writes literally, in every form a resolver reads as one: dotted,
    one number, hex or octal parts (inet_aton's), and IPv4-mapped IPv6 as its IPv4. None
    for a name (what a name resolves to is not known here)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class RolloutSpec:
    """A rollout of one route (`route`) or of a group's routes together (`group`)."""

    name: str  # the route's or the group's name: one rollout per route at a time
    group: bool
    steps: tuple[float, ...]
    interval_s: float
    gates: tuple[Gate, ...]
    min_requests: int = 200
    failure_limit: int = 2
    shadow_s: float = 0.0  # an optional shadow phase, gated on parity, before any real traffic
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def check_every_s(self) -> float:
        """How often the gates are read: twice an interval, so that `failure_limit` failed
        checks in a row roll back within about failure_limit / 2 intervals."""
        return max(self.interval_s / 2, 0.5)

    @property
    def mirrors(self) -> bool:
        """A parity gate needs comparisons: the legacy share of a canary is mirrored."""
        return any(gate.metric == "parity" for gate in self.gates)

    def to_dict(self) -> dict[str, Any]:
        return {
            ("group" if self.group else "route"): self.name,
            "steps": list(self.steps),
            "interval_s": self.interval_s,
            "gates": [str(g) for g in self.gates],
            "min_requests": self.min_requests,
            "failure_limit": self.failure_limit,
            "shadow_s": self.shadow_s,
            "checks": [c.url for c in self.checks],
        }

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> RolloutSpec:
        """From the admin API's JSON or a TOML file's [rollout] table (`interval` and `shadow`
        take durations, `interval_s` and `shadow_s` seconds)."""
        known = {
            "route",
            "group",
            "steps",
            "interval",
            "interval_s",
            "gates",
            "min_requests",
            "failure_limit",
            "shadow",
            "shadow_s",
            "checks",
        }
        unknown = set(raw) - known
        if unknown:
            raise SpecError(
                f"unknown rollout setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        route, group = raw.get("route"), raw.get("group")
        if (route is None) == (group is None):
            raise SpecError("name exactly one of 'route' or 'group'")
        name = route if route is not None else group
        if not isinstance(name, str) or not _NAME.match(name):
            raise SpecError(f"{'route' if route is not None else 'group'} {name!r} is not a name")
        steps = _steps(raw.get("steps"))
        interval = parse_duration(raw.get("interval", raw.get("interval_s", "30s")), "interval")
        if not 1 <= interval <= 86_400:
            raise SpecError(f"interval must be from 1 s to 1 day, not {interval:g} s")
        shadow = parse_duration(raw.get("shadow", raw.get("shadow_s", 0)), "shadow")
        if shadow and not 1 <= shadow <= 86_400:
            raise SpecError(f"shadow must be 0 (none) or from 1 s to 1 day, not {shadow:g} s")
        gates_raw = raw.get("gates", [])
        if isinstance(gates_raw, str):
            gates_raw = [gates_raw]
        if not isinstance(gates_raw, list) or not gates_raw or len(gates_raw) > MAX_GATES:
            raise SpecError(
                f"give 1 to {MAX_GATES} gates, such as 'parity>=0.999', 'errors<=0.5%', "
                "'p99<=1.2x legacy'"
            )
        try:
            gates = tuple(parse_gate(g) for g in gates_raw)
        except GateError as exc:
            raise SpecError(str(exc)) from exc
        if shadow and not any(g.metric == "parity" for g in gates):
            raise SpecError("a shadow phase is gated on parity: add a gate such as parity>=0.999")
        checks_raw = raw.get("checks", [])
        if isinstance(checks_raw, str | Mapping):
            checks_raw = [checks_raw]
        if not isinstance(checks_raw, list) or len(checks_raw) > MAX_CHECKS:
            raise SpecError(f"checks must be a list of at most {MAX_CHECKS} URLs")
        return cls(
            name=name,
            group=group is not None,
            steps=steps,
            interval_s=interval,
            gates=gates,
            min_requests=_int(raw, "min_requests", 200, 1, 1_000_000),
            failure_limit=_int(raw, "failure_limit", 2, 1, 100),
            shadow_s=shadow,
            checks=tuple(Check.parse(c) for c in checks_raw),
        )


def _int(raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(f"{key} must be a whole number from {low} to {high}")
    return value


def _steps(value: object) -> tuple[float, ...]:
    if isinstance(value, str):
        try:
            if len(value) > MAX_TEXT_CHARS:
                raise ValueError(value)
            value = [float(part) for part in value.split(",")]
        except ValueError as exc:
            raise SpecError(
                f"steps {value[:MAX_TEXT_CHARS]!r} must be up to {MAX_STEPS} weights such as "
                "5,25,50,100"
            ) from exc
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_STEPS
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise SpecError(f"steps must be 1 to {MAX_STEPS} weights such as [5, 25, 50, 100]")
    steps = tuple(_float(v, "steps") for v in value)
    if not all(0 < w <= 100 for w in steps) or any(b <= a for a, b in pairwise(steps)):
        raise SpecError(f"steps {list(steps)} must rise, each above 0 and at most 100")
    return steps
