"""The route table: ordered rules that map a method and path to a named route and its mode.

Routes name their upstreams; the URLs behind the names come from the gateway's own
configuration (the routes file's `[upstreams]` and GATEWAY_UPSTREAM_<NAME>), never from the
stored table: whoever can write the store can change a route's mode or weight (audited), but
cannot point traffic at a host the gateway was not configured with (`to_stored`,
`from_dict(..., upstreams=)`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from gateway.breaker import BreakerPolicy
from gateway.compare import parse_rules
from gateway.faults import Fault


class Mode(StrEnum):
    LEGACY = "legacy"  # everything to legacy
    SHADOW = "shadow"  # legacy answers; a sample is mirrored to extracted and compared
    CANARY = "canary"  # `weight` percent of sticky keys to extracted
    EXTRACTED = "extracted"  # everything to extracted, legacy only as fallback


class RouteTableError(ValueError):
    """A route table (file or change) that cannot be used; the message says what is wrong."""


ROUTE_SETTINGS = frozenset(
    {
        "name",
        "match",
        "methods",
        "legacy",
        "extracted",
        "mode",
        "weight",
        "sticky_key",
        "salt",
        "fallback",
        "timeout_s",
        "connect_timeout_s",
        "shadow_sample",
        "noise_sample",
        "dry_run",
        "dry_run_wait_s",
        "compare",
        "breaker",
        "outcome_hint",
        "reads",
        "read_model",
        "writes",
        "fault",
    }
)
# What a route's data is (gateway/coexistence.py): declared in the routes file, never changed
# by an operator's call
DATA_SETTINGS = frozenset({"reads", "read_model", "writes"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_HINT = 300
KEY_SOURCES = ("header", "cookie", "query", "json", "path")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_PARAM = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%-]+$")


@dataclass(frozen=True)
class Pattern:
    """A path pattern: literal segments, `{name}` for one segment, a final `**` for the rest."""

    text: str
    segments: tuple[str, ...]
    rest: bool

    @classmethod
    def parse(cls, text: str) -> Pattern:
        if not text.startswith("/"):
            raise RouteTableError(f"pattern {text!r} must start with /")
        parts = [p for p in text.split("/")[1:]]
        if parts == [""]:
            parts = []
        rest = bool(parts) and parts[-1] == "**"
        if rest:
            parts = parts[:-1]
        for part in parts:
            if not (_PARAM.match(part) or (_LITERAL.match(part) and part not in (".", "..", "**"))):
                raise RouteTableError(f"pattern {text!r}: bad segment {part!r}")
        return cls(text=text, segments=tuple(parts), rest=rest)

    @property
    def first_literal(self) -> str | None:
        if self.segments and not _PARAM.match(self.segments[0]):
            return self.segments[0]
        return None

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        """Path parameters when the (already split) path matches, else None."""
        if len(segments) < len(self.segments) or (
            len(segments) > len(self.segments) and not self.rest
        ):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.segments, segments, strict=False):
            param = _PARAM.match(want)
            if param:
                if not got:
                    return None
                params[param.group(1)] = got
            elif want != got:
                return None
        return params


@dataclass(frozen=True)
class StickyKey:
    """Where a canary reads its stickiness key: `header:X-User-Id`, `cookie:uid`, `query:user`,
    `json:user_id` (a top-level field of a JSON body) or `path:id` (a pattern parameter)."""

    source: str
    name: str

    @classmethod
    def parse(cls, text: str) -> StickyKey:
        source, _, name = text.partition(":")
        if source not in KEY_SOURCES or not name:
            raise RouteTableError(
                f"sticky_key {text!r} must be one of {', '.join(s + ':NAME' for s in KEY_SOURCES)}"
            )
        return cls(source=source, name=name.lower() if source == "header" else name)

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


@dataclass(frozen=True)
class Route:
    name: str
    patterns: tuple[Pattern, ...]
    methods: frozenset[str]
    legacy: str  # upstream name
    extracted: str | None
    mode: Mode = Mode.LEGACY
    weight: float = 0.0
    sticky_key: StickyKey | None = None
    salt: str = ""
    fallback: bool = True
    timeout_s: float = 10.0
    connect_timeout_s: float = 2.0
    shadow_sample: float = 1.0  # share of requests mirrored in shadow mode
    noise_sample: float = 0.0  # share of mirrored safe requests also replayed on legacy (noise)
    dry_run: bool = False  # the extracted target honours X-Strangler-Shadow: dry-run
    # how long a mirrored write waits for its dry run to answer before it goes to legacy
    dry_run_wait_s: float = 1.0
    compare: Mapping[str, Any] = field(default_factory=dict)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    # told to a client whose write's outcome is unknown (how to find out what happened)
    outcome_hint: str = ""
    # the data its extracted side reads from a read model (`read_model`: the outbox consumer
    # that builds it), and the data it writes, on whichever side serves it
    reads: tuple[str, ...] = ()
    read_model: str | None = None
    writes: tuple[str, ...] = ()
    # injected into the extracted side's requests, to prove fallback and rollback (faults.py)
    fault: Fault | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "match": [p.text for p in self.patterns],
            "methods": sorted(self.methods),
            "legacy": self.legacy,
            "extracted": self.extracted,
            "mode": self.mode.value,
            "weight": self.weight,
            "sticky_key": str(self.sticky_key) if self.sticky_key else None,
            "salt": self.salt,
            "fallback": self.fallback,
            "timeout_s": self.timeout_s,
            "connect_timeout_s": self.connect_timeout_s,
            "shadow_sample": self.shadow_sample,
            "noise_sample": self.noise_sample,
            "dry_run": self.dry_run,
            "dry_run_wait_s": self.dry_run_wait_s,
            "compare": dict(self.compare),
            "breaker": asdict(self.breaker),
            "outcome_hint": self.outcome_hint,
            "reads": list(self.reads),
            "read_model": self.read_model,
            "writes": list(self.writes),
            "fault": self.fault.to_dict() if self.fault else None,
        }


def _number(raw: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise RouteTableError(
            f"route {raw.get('name')!r}: {key} must be a number from {low} to {high}"
        )
    return float(value)


def _flag(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise RouteTableError(f"route {raw.get('name')!r}: {key} must be true or false")
    return value


def parse_route(raw: Mapping[str, Any], upstreams: Mapping[str, str]) -> Route:
    """One route from its declarative form, validated against the known upstreams."""
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RouteTableError(f"route name {name!r} must match {_NAME.pattern}")
    unknown = set(raw) - ROUTE_SETTINGS
    if unknown:
        raise RouteTableError(f"route {name!r}: unknown setting(s) {', '.join(sorted(unknown))}")
    match = raw.get("match")
    if isinstance(match, str):
        match = [match]
    if not isinstance(match, list) or not match or not all(isinstance(m, str) for m in match):
        raise RouteTableError(f"route {name!r}: match must be a pattern or a list of patterns")
    methods = raw.get("methods") or sorted(METHODS)
    if not isinstance(methods, list) or not {str(m).upper() for m in methods} <= METHODS:
        raise RouteTableError(
            f"route {name!r}: methods must be a list of {', '.join(sorted(METHODS))}"
        )
    try:
        mode = Mode(raw.get("mode", "legacy"))
    except ValueError as exc:
        raise RouteTableError(
            f"route {name!r}: mode must be one of {', '.join(m.value for m in Mode)}"
        ) from exc
    legacy = raw.get("legacy", "legacy")
    extracted = raw.get("extracted")
    for role, upstream in (("legacy", legacy), ("extracted", extracted)):
        if upstream is not None and upstream not in upstreams:
            raise RouteTableError(f"route {name!r}: {role} upstream {upstream!r} is not declared")
    if mode is not Mode.LEGACY and extracted is None:
        raise RouteTableError(f"route {name!r}: mode {mode.value} needs an extracted upstream")
    sticky = raw.get("sticky_key")
    compare = raw.get("compare", {})
    if not isinstance(compare, Mapping):
        raise RouteTableError(f"route {name!r}: compare must be a table")
    try:
        parse_rules(compare)
    except ValueError as exc:
        raise RouteTableError(f"route {name!r}: compare: {exc}") from exc
    breaker = raw.get("breaker", {})
    try:
        if not isinstance(breaker, Mapping):
            raise ValueError("breaker must be a table")
        policy = BreakerPolicy.from_mapping(breaker)
    except (TypeError, ValueError) as exc:
        raise RouteTableError(f"route {name!r}: {exc}") from exc
    hint = raw.get("outcome_hint", "")
    if not isinstance(hint, str) or len(hint) > MAX_HINT or not hint.isprintable():
        raise RouteTableError(
            f"route {name!r}: outcome_hint must be printable text of at most {MAX_HINT} characters"
        )
    reads, writes = _names(raw, name, "reads"), _names(raw, name, "writes")
    read_model = raw.get("read_model")
    if read_model is not None and (not isinstance(read_model, str) or not _NAME.match(read_model)):
        raise RouteTableError(f"route {name!r}: read_model must be a name")
    if bool(reads) != (read_model is not None):
        raise RouteTableError(f"route {name!r}: reads and read_model go together")
    try:
        fault = None if raw.get("fault") is None else Fault.parse(raw["fault"])
    except ValueError as exc:
        raise RouteTableError(f"route {name!r}: {exc}") from exc
    return Route(
        name=name,
        patterns=tuple(Pattern.parse(m) for m in match),
        methods=frozenset(str(m).upper() for m in methods),
        legacy=str(legacy),
        extracted=extracted,
        mode=mode,
        weight=_number(raw, "weight", 0, 0, 100),
        sticky_key=StickyKey.parse(sticky) if sticky else None,
        salt=str(raw.get("salt", name)),
        fallback=_flag(raw, "fallback", True),
        timeout_s=_number(raw, "timeout_s", 10, 0.01, 600),
        connect_timeout_s=_number(raw, "connect_timeout_s", 2, 0.01, 60),
        shadow_sample=_number(raw, "shadow_sample", 1, 0, 1),
        noise_sample=_number(raw, "noise_sample", 0, 0, 1),
        dry_run=_flag(raw, "dry_run", False),
        dry_run_wait_s=_number(raw, "dry_run_wait_s", 1.0, 0, 10),
        compare=dict(compare),
        breaker=policy,
        outcome_hint=hint.strip(),
        reads=reads,
        read_model=read_model,
        writes=writes,
        fault=fault,
    )


def _names(raw: Mapping[str, Any], route: str, key: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and _NAME.match(v) for v in value):
        raise RouteTableError(f"route {route!r}: {key} must be a list of data names")
    return tuple(value)


def validate_upstreams(raw: Mapping[str, Any]) -> dict[str, str]:
    upstreams: dict[str, str] = {}
    for name, url in raw.items():
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise RouteTableError(f"upstream {name!r}: {url!r} is not an http(s) URL")
        if _never_an_upstream(parts.hostname):
            raise RouteTableError(
                f"upstream {name!r}: {url!r} is a link-local, multicast or unspecified address "
                "(a cloud metadata service lives there), never a shop's upstream"
            )
        upstreams[str(name)] = str(url).rstrip("/")
    if "legacy" not in upstreams:
        raise RouteTableError("the upstream 'legacy' must be declared")
    return upstreams


def _never_an_upstream(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a name: resolved by the operator's DNS, as the operator configured it
    return address.is_link_local or address.is_multicast or address.is_unspecified


@dataclass(frozen=True)
class Match:
    route: Route
    params: Mapping[str, str]


class RouteTable:
    """Ordered routes plus the catch-all default; matching is indexed by first path segment."""

    def __init__(self, routes: Sequence[Route], upstreams: Mapping[str, str], version: int = 0):
        names = [r.name for r in routes]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise RouteTableError(f"duplicate route name(s): {', '.join(sorted(duplicates))}")
        self.routes = tuple(routes)
        self.upstreams = dict(upstreams)
        self.version = version
        self.default = Route(
            name="default",
            patterns=(Pattern.parse("/**"),),
            methods=METHODS,
            legacy="legacy",
            extracted=None,
        )
        # rule index -> (pattern, route); rules whose first segment is literal are bucketed by it
        self._by_first: dict[str, list[tuple[int, Pattern, Route]]] = {}
        self._anywhere: list[tuple[int, Pattern, Route]] = []
        order = 0
        for route in self.routes:
            for pattern in route.patterns:
                entry = (order, pattern, route)
                order += 1
                first = pattern.first_literal
                if first is None:
                    self._anywhere.append(entry)
                else:
                    self._by_first.setdefault(first, []).append(entry)

    def match(self, method: str, path: str) -> Match:
        """The first rule, in table order, whose pattern and methods accept the request."""
        segments = path.split("/")[1:]
        if segments == [""]:
            segments = []
        candidates = self._by_first.get(segments[0], []) if segments else []
        best: tuple[int, Route, dict[str, str]] | None = None
        for entries in (candidates, self._anywhere):
            for order, pattern, route in entries:
                if best is not None and order >= best[0]:
                    break
                if method not in route.methods:
                    continue
                params = pattern.match(segments)
                if params is not None:
                    best = (order, route, params)
                    break
        if best is None:
            return Match(self.default, {})
        return Match(best[1], best[2])

    def get(self, name: str) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The table as this gateway serves it, its upstreams' URLs included."""
        return {
            "version": self.version,
            "upstreams": dict(self.upstreams),
            "routes": [r.to_dict() for r in self.routes],
        }

    def to_stored(self) -> dict[str, Any]:
        """The table as the store keeps it: upstreams by name only."""
        return {**self.to_dict(), "upstreams": sorted(self.upstreams)}

    @classmethod
    def from_dict(
        cls,
        raw: Mapping[str, Any],
        version: int | None = None,
        upstreams: Mapping[str, str] | None = None,
    ) -> RouteTable:
        """A table from its declarative form. With `upstreams` (the gateway's configured
        URLs, for a stored table), whatever the form says of its upstreams is ignored and
        every route must name one of those; without, the form declares them (a routes file)."""
        upstreams_raw = raw.get("upstreams")
        if upstreams is not None:
            upstreams = dict(upstreams)
        elif isinstance(upstreams_raw, Mapping):
            upstreams = validate_upstreams(upstreams_raw)
        else:
            raise RouteTableError("the table needs an [upstreams] section of name = URL")
        routes_raw = raw.get("routes", [])
        if not isinstance(routes_raw, list):
            raise RouteTableError("routes must be a list of tables")
        routes = [parse_route(r, upstreams) for r in routes_raw]
        return cls(routes, upstreams, int(raw.get("version", 0)) if version is None else version)
