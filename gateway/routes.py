"""The route table: ordered rules that map a method and path to a named route and its mode,
and the route groups that move several routes as one.

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
from dataclasses import asdict, dataclass, field, replace
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


class RetiredUpstreamError(RouteTableError):
    """A table in which a route could still send to an upstream the table retires."""


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
        "canary_mirror",
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
GROUP_SETTINGS = frozenset({"name", "routes", "sticky_key", "salt"})
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
    # set by the table for a member of a route group, never declared on the route itself
    group: Group | None = None
    fallback: bool = True
    timeout_s: float = 10.0
    connect_timeout_s: float = 2.0
    shadow_sample: float = 1.0  # share of requests mirrored in shadow mode
    # in canary mode, the legacy share is mirrored and compared as in shadow mode (a rollout
    # with a parity gate sets it: gateway/rollouts)
    canary_mirror: bool = False
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
            "group": self._bucketing(),
            "fallback": self.fallback,
            "timeout_s": self.timeout_s,
            "connect_timeout_s": self.connect_timeout_s,
            "shadow_sample": self.shadow_sample,
            "canary_mirror": self.canary_mirror,
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

    @property
    def effective_sticky_key(self) -> StickyKey | None:
        """The key this route buckets by: its group's when the group declares one, else its own."""
        if self.group is not None and self.group.sticky_key is not None:
            return self.group.sticky_key
        return self.sticky_key

    @property
    def effective_salt(self) -> str:
        """Its group's salt for a member (one key, one bucket, on every member), else its own."""
        return self.group.salt if self.group is not None else self.salt

    def _bucketing(self) -> dict[str, Any] | None:
        """A member's group and what it buckets by (its own sticky_key and salt stay beside)."""
        if self.group is None:
            return None
        key = self.effective_sticky_key
        return {
            "name": self.group.name,
            "sticky_key": str(key) if key else None,
            "salt": self.effective_salt,
        }


@dataclass(frozen=True)
class Group:
    """Routes that move as one (one table version, one audit entry: `changes.set_group`) and
    bucket as one: every member hashes keys with the group's salt, and reads the group's
    sticky key when it declares one, so a key value is on the same side on every member."""

    name: str
    routes: tuple[str, ...]
    sticky_key: StickyKey | None = None
    salt: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "routes": list(self.routes),
            "sticky_key": str(self.sticky_key) if self.sticky_key else None,
            "salt": self.salt,
        }


def parse_group(raw: Mapping[str, Any]) -> Group:
    """One group from its declarative form (its members are checked by the table)."""
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RouteTableError(f"group name {name!r} must match {_NAME.pattern}")
    unknown = set(raw) - GROUP_SETTINGS
    if unknown:
        raise RouteTableError(f"group {name!r}: unknown setting(s) {', '.join(sorted(unknown))}")
    members = raw.get("routes")
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise RouteTableError(f"group {name!r}: routes must be a list of route names")
    if len(set(members)) < 2 or len(set(members)) != len(members):
        raise RouteTableError(f"group {name!r}: routes must name at least 2 routes, each once")
    sticky = raw.get("sticky_key")
    if sticky is not None and not isinstance(sticky, str):
        raise RouteTableError(f"group {name!r}: sticky_key must be text such as header:x-user-id")
    salt = raw.get("salt", name)
    if not isinstance(salt, str) or not salt:
        raise RouteTableError(f"group {name!r}: salt must be non-empty text")
    return Group(
        name=name,
        routes=tuple(members),
        sticky_key=StickyKey.parse(sticky) if sticky else None,
        salt=salt,
    )


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
    unknown = set(raw) - ROUTE_SETTINGS - {"group"}
    if unknown:
        raise RouteTableError(f"route {name!r}: unknown setting(s) {', '.join(sorted(unknown))}")
    if not isinstance(raw.get("group"), Mapping | None):
        # the table's dict shows a member's group there; membership is declared by the group
        raise RouteTableError(f"route {name!r}: a route joins a group in [[groups]], not itself")
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
        canary_mirror=_flag(raw, "canary_mirror", False),
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
    """Ordered routes plus the catch-all default; matching is indexed by first path segment.
    Members of `groups` are served with their group (`Route.group`)."""

    def __init__(
        self,
        routes: Sequence[Route],
        upstreams: Mapping[str, str],
        version: int = 0,
        groups: Sequence[Group] = (),
        retired: Sequence[str] = (),
    ):
        names = [r.name for r in routes]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise RouteTableError(f"duplicate route name(s): {', '.join(sorted(duplicates))}")
        membership = _membership(routes, groups)
        self.groups = tuple(groups)
        self.routes = tuple(
            r if r.group == membership.get(r.name) else replace(r, group=membership.get(r.name))
            for r in routes
        )
        self.upstreams = dict(upstreams)
        self.version = version
        self.retired = frozenset(retired)
        _check_retired(self.routes, self.upstreams, self.retired)
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

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The table as this gateway serves it, its upstreams' URLs included."""
        return {
            "version": self.version,
            "upstreams": dict(self.upstreams),
            "routes": [r.to_dict() for r in self.routes],
            "groups": [g.to_dict() for g in self.groups],
            "retired": sorted(self.retired),
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
        groups_raw = raw.get("groups", [])  # a table stored before groups existed has none
        if not isinstance(groups_raw, list) or not all(isinstance(g, Mapping) for g in groups_raw):
            raise RouteTableError("groups must be a list of tables")
        groups = [parse_group(g) for g in groups_raw]
        retired = raw.get("retired", [])  # a table stored before retiring existed has none
        if not isinstance(retired, list) or not all(isinstance(n, str) for n in retired):
            raise RouteTableError("retired must be a list of upstream names")
        number = int(raw.get("version", 0)) if version is None else version
        return cls(routes, upstreams, number, groups, retired)


def reaching(routes: Sequence[Route], upstream: str) -> list[str]:
    """How each route could still send a request to `upstream`, in words (empty: none can).
    Only a route in extracted mode with fallback off never sends to its legacy side (a
    breaker that opens sends its traffic there only while legacy is not retired)."""
    found = []
    for route in routes:
        if route.legacy == upstream and route.mode is not Mode.EXTRACTED:
            found.append(f"route {route.name!r} is in {route.mode.value} mode")
        elif route.legacy == upstream and route.fallback:
            found.append(f"route {route.name!r} falls back to it on errors")
        elif route.extracted == upstream and route.mode is not Mode.LEGACY:
            found.append(f"route {route.name!r} sends to it as its extracted side")
    return found


def _check_retired(
    routes: Sequence[Route], upstreams: Mapping[str, str], retired: frozenset[str]
) -> None:
    """A retired upstream is one the gateway never sends to: no route may still reach it."""
    for name in sorted(retired):
        if name not in upstreams:
            raise RouteTableError(f"retired upstream {name!r} is not declared")
        ways = reaching(routes, name)
        if ways:
            raise RetiredUpstreamError(
                f"upstream {name!r} is retired (stopped), yet {'; '.join(ways)}: every route "
                f"must be in extracted mode with fallback off while it is retired (or run "
                f"`strangler unretire {name} --reason ...` first, which starts it again)"
            )


def _membership(routes: Sequence[Route], groups: Sequence[Group]) -> dict[str, Group]:
    """Each member route's group; refused when a group is not a set of this table's routes
    that no other group shares, or when its `path:` key is missing from a member's pattern
    (every request there would be keyless, so legacy)."""
    by_name = {r.name: r for r in routes}
    membership: dict[str, Group] = {}
    seen: set[str] = set()
    for group in groups:
        if group.name in seen:
            raise RouteTableError(f"duplicate group name {group.name!r}")
        if group.name in by_name:
            # the audit log names a route or a group in one field: one name, one meaning
            raise RouteTableError(f"group {group.name!r}: a route has that name already")
        seen.add(group.name)
        for member in group.routes:
            route = by_name.get(member)
            if route is None:
                raise RouteTableError(f"group {group.name!r}: no route named {member!r}")
            if member in membership:
                raise RouteTableError(
                    f"route {member!r} is in groups {membership[member].name!r} and "
                    f"{group.name!r}: a route is in one group at most"
                )
            key = group.sticky_key
            if key is not None and key.source == "path":
                for pattern in route.patterns:
                    if f"{{{key.name}}}" not in pattern.segments:
                        raise RouteTableError(
                            f"group {group.name!r}: sticky_key {key} is no parameter of "
                            f"route {member!r}'s pattern {pattern.text}"
                        )
            membership[member] = group
    return membership
