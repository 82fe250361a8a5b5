"""Operator changes to the route table: validated, versioned, audited, and reversible.

Every table version the store holds is written together with its audit entry (one Lua
script). A version with no audit entry was written around this module, by whoever could reach
the store: a gateway never adopts it (`load`), and no change is built on it (only the kill
switch and a rollback to an audited version, which replace it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.routes import (
    DATA_SETTINGS,
    ROUTE_SETTINGS,
    RetiredUpstreamError,
    Route,
    RouteTable,
    RouteTableError,
    reaching,
)
from gateway.store import Document, RouteStore

# What an operator may change on a live route (its name and patterns are fixed; a new
# route or new patterns go through the routes file and a reseed).
SETTABLE = ROUTE_SETTINGS - {"name", "match", "legacy"} - DATA_SETTINGS
MAX_ATTEMPTS = 20
MAX_REASON_CHARS = 500


class ChangeError(ValueError):
    """A change that cannot be applied; `status` is the HTTP status the admin API answers."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def valid_reason(value: object) -> str:
    """A change's reason as the audit log keeps it: one printable line, at most 500
    characters (a 2 MB reason went into the log; a line break could forge an entry in a
    log read as lines)."""
    if not isinstance(value, str) or not value.strip():
        raise ChangeError("a non-empty 'reason' is required for every change")
    reason = value.strip()
    if len(reason) > MAX_REASON_CHARS:
        raise ChangeError(
            f"'reason' is limited to {MAX_REASON_CHARS} characters, not {len(reason)}"
        )
    if not reason.isprintable():
        raise ChangeError("'reason' must be one line of printable characters")
    return reason


@dataclass(frozen=True)
class Change:
    version: int
    audit: Document
    table: RouteTable


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def seed(store: RouteStore, table: RouteTable) -> RouteTable:
    """Store the file's table as version 1 unless a table is already stored; return the live one
    (with `table`'s upstream URLs: the gateway's own)."""
    if await store.version() == 0:
        audit = {
            "version": 1,
            "at": _now(),
            "actor": "seed",
            "action": "seed",
            "route": None,
            "reason": "seeded from the routes file",
            "before": None,
            "after": table.to_stored(),
        }
        await store.commit(0, {**table.to_stored(), "version": 1}, audit)
    return await load(store, table.upstreams)


async def load(store: RouteStore, upstreams: Mapping[str, str]) -> RouteTable:
    """The stored table, on the gateway's own `upstreams`; refused (ChangeError 409) when it
    has no audit entry, and (RouteTableError) when it names an upstream not among them."""
    document = await store.table()
    if document is None:
        raise ChangeError("no route table is stored yet", status=503)
    await require_audited(store, document)
    return RouteTable.from_dict(document, upstreams=upstreams)


async def require_audited(store: RouteStore, document: Document) -> None:
    """The newest audit entry is this version's: every change writes both at once."""
    version = document.get("version")
    newest = await store.audit(1)
    if not newest or newest[-1].get("version") != version:
        raise ChangeError(
            f"route table version {version} has no audit entry: it was written around the "
            "admin API, and is not served (roll back to an audited version, or use the kill "
            "switch)",
            status=409,
        )


async def _apply(
    store: RouteStore,
    mutate: Callable[[Document], tuple[Document, Any, Any, str | None]],
    *,
    upstreams: Mapping[str, str],
    actor: str,
    action: str,
    reason: str,
    replaces: bool = False,
    noted: Mapping[str, Any] | None = None,
    on_version: int | None = None,
) -> Change:
    """Commit `mutate`'s table as the next version, with its audit entry. `replaces`: the
    change does not build on the current table (kill switch, rollback), so it may replace one
    that has no audit entry. `on_version`: only on top of that version, never retried (a
    decision made on that table, such as a rollout's next step, is not made on another)."""
    reason = valid_reason(reason)
    for _ in range(1 if on_version is not None else MAX_ATTEMPTS):
        expected = await store.version()  # the store's own count, whatever a table claims
        if on_version is not None and expected != on_version:
            break
        try:
            current = await store.table()
        except ValueError as exc:  # not JSON: written around this module
            if not replaces:
                raise ChangeError(
                    f"the stored table is not readable ({exc}): use the kill switch or roll "
                    "back to an audited version",
                    status=409,
                ) from exc
            current = {}
        if expected == 0 or current is None:
            raise ChangeError("no route table is stored yet", status=503)
        if not isinstance(current, dict):
            current = {}  # only a change that replaces it gets here (checked just below)
        if not replaces:
            try:
                await require_audited(store, current)
            except ChangeError:
                if await store.version() != expected:
                    continue  # a change landed between our reads: read again
                raise
        document, before, after, route = mutate(current)
        version = expected + 1
        document = {**document, "version": version}
        try:
            table = RouteTable.from_dict(document, upstreams=upstreams)
        except RetiredUpstreamError as exc:  # a sound change, refused while legacy is retired
            raise ChangeError(str(exc), status=409) from exc
        except RouteTableError as exc:
            raise ChangeError(str(exc), status=422) from exc
        audit = {
            "version": version,
            "at": _now(),
            "actor": actor,
            "action": action,
            "route": route,
            "reason": reason.strip(),
            "before": before,
            "after": after,
            **(noted or {}),  # e.g. a move forced past the coexistence guard, and why
        }
        if await store.commit(expected, table.to_stored(), audit):
            return Change(version, audit, table)
    if on_version is not None:
        raise ChangeError(
            f"the table moved past version {on_version} that this change was decided on",
            status=409,
        )
    raise ChangeError("the table kept changing underneath; try again", status=409)


SettingsByRoute = Mapping[str, Mapping[str, Any]]


def _settable(settings: Mapping[str, Any]) -> None:
    unknown = set(settings) - SETTABLE
    if unknown:
        raise ChangeError(
            f"cannot set {', '.join(sorted(unknown))}; settable: {', '.join(sorted(SETTABLE))}"
        )
    if not settings:
        raise ChangeError("give at least one setting to change")


def _current(document: Document, upstreams: Mapping[str, str]) -> RouteTable:
    try:
        return RouteTable.from_dict(document, upstreams=upstreams)
    except RouteTableError as exc:
        raise ChangeError(str(exc), status=422) from exc


async def set_routes(
    store: RouteStore,
    settings: SettingsByRoute,
    *,
    upstreams: Mapping[str, str],
    actor: str,
    reason: str,
    action: str = "set",
    route_label: str | None = None,
    noted: Mapping[str, Any] | None = None,
    on_version: int | None = None,
) -> Change:
    """Change several routes, each with its own settings, in one version with one audit
    entry. The entry's `route` is `route_label`, or the route when only one changes; its
    before/after are then that route's dicts, else {route: its dict} for each route.
    `on_version`: only on top of that table version (ChangeError 409 otherwise)."""
    if not settings:
        raise ChangeError("give at least one route to change")
    for one in settings.values():
        _settable(one)
    return await _set_routes(
        store,
        lambda _table: settings,
        upstreams=upstreams,
        actor=actor,
        reason=reason,
        action=action,
        route_label=route_label,
        noted=noted,
        on_version=on_version,
    )


async def set_route(
    store: RouteStore,
    name: str,
    settings: Mapping[str, Any],
    *,
    upstreams: Mapping[str, str],
    actor: str,
    reason: str,
    noted: Mapping[str, Any] | None = None,
) -> Change:
    """Change some settings of one route (`noted`: more for its audit entry)."""
    return await set_routes(
        store, {name: settings}, upstreams=upstreams, actor=actor, reason=reason, noted=noted
    )


async def set_group(
    store: RouteStore,
    group: str,
    settings: Mapping[str, Any],
    *,
    upstreams: Mapping[str, str],
    actor: str,
    reason: str,
    noted: Mapping[str, Any] | None = None,
) -> Change:
    """The same settings on every member of a route group, in one version with one audit
    entry (action "set-group", route = the group, before/after per member). The members are
    the group's in the table the change builds on."""
    _settable(settings)

    def members(table: RouteTable) -> SettingsByRoute:
        found = table.group(group)
        if found is None:
            raise ChangeError(f"no group named {group!r}", status=404)
        return {member: settings for member in found.routes}

    return await _set_routes(
        store,
        members,
        upstreams=upstreams,
        actor=actor,
        reason=reason,
        action="set-group",
        route_label=group,
        noted=noted,
    )


async def _set_routes(
    store: RouteStore,
    resolve: Callable[[RouteTable], SettingsByRoute],
    *,
    upstreams: Mapping[str, str],
    actor: str,
    reason: str,
    action: str,
    route_label: str | None,
    noted: Mapping[str, Any] | None,
    on_version: int | None = None,
) -> Change:
    """`resolve`: which routes get which settings, from the table the change builds on (read
    anew on every attempt)."""

    def mutate(document: Document) -> tuple[Document, Any, Any, str | None]:
        table = _current(document, upstreams)
        changing = resolve(table)
        routes = list(document.get("routes", []))
        index = {r.get("name"): i for i, r in enumerate(routes)}
        before, after = {}, {}
        for name, settings in changing.items():
            route = table.get(name)
            if route is None:
                raise ChangeError(f"no route named {name!r}", status=404)
            _not_the_groups(route, settings)
            before[name] = routes[index[name]]
            after[name] = routes[index[name]] = {**before[name], **settings}
        if route_label is None and len(changing) == 1:
            [name] = changing
            return {**document, "routes": routes}, before[name], after[name], name
        return {**document, "routes": routes}, before, after, route_label

    return await _apply(
        store,
        mutate,
        upstreams=upstreams,
        actor=actor,
        action=action,
        reason=reason,
        noted=noted,
        on_version=on_version,
    )


def _not_the_groups(route: Route, settings: Mapping[str, Any]) -> None:
    """A member buckets by its group's salt, and its key when the group declares one: its
    own would change nothing while it is a member, so setting it is refused."""
    group = route.group
    if group is None:
        return
    decided = {"salt"} | ({"sticky_key"} if group.sticky_key is not None else set())
    refused = decided & set(settings)
    if refused:
        raise ChangeError(
            f"route {route.name!r} buckets by the {', '.join(sorted(refused))} of its group "
            f"{group.name!r} (declared in the routes file's [[groups]]): its own would change "
            "nothing",
            status=422,
        )


async def kill(
    store: RouteStore, *, upstreams: Mapping[str, str], actor: str, reason: str
) -> Change:
    """The kill switch: every route to legacy in one version. Refused while an upstream is
    retired: it would send every request to a stopped legacy (unretire it first)."""

    def mutate(document: Document) -> tuple[Document, Any, Any, str | None]:
        retired = document.get("retired") or []
        if retired:
            raise ChangeError(
                f"the kill switch sends every route to legacy, and {', '.join(retired)} is "
                "retired (stopped): every request would fail. Run `strangler unretire "
                "legacy --reason ...` first (it starts legacy again), then the kill switch; "
                "or move the failing route back with `strangler routes rollback`",
                status=409,
            )
        routes = document.get("routes", [])
        before = {r["name"]: r.get("mode", "legacy") for r in routes}
        killed = [{**r, "mode": "legacy"} for r in routes]
        return {**document, "routes": killed}, before, {name: "legacy" for name in before}, None

    return await _apply(
        store, mutate, upstreams=upstreams, actor=actor, action="kill", reason=reason, replaces=True
    )


async def rollback(
    store: RouteStore, version: int, *, upstreams: Mapping[str, str], actor: str, reason: str
) -> Change:
    """Make the table as it was at `version` the newest version. What is retired stays
    retired (only `unretire` changes that): a version that sends to a retired upstream is
    refused (409)."""
    old = await store.at(version)
    if old is None:
        raise ChangeError(f"no table version {version}", status=404)

    def mutate(document: Document) -> tuple[Document, Any, Any, str | None]:
        restored = {**old, "retired": document.get("retired") or []}
        return restored, {"version": document.get("version")}, {"restored": version}, None

    return await _apply(
        store,
        mutate,
        upstreams=upstreams,
        actor=actor,
        action="rollback",
        reason=reason,
        replaces=True,
    )


async def retire(
    store: RouteStore, upstream: str, *, upstreams: Mapping[str, str], actor: str, reason: str
) -> Change:
    """Retire an upstream (legacy): from this version on the gateway never sends a request
    to it, and the default route answers 404 `legacy-retired`. Refused (409) while any
    route could still send to it, naming each route and how."""

    def mutate(document: Document) -> tuple[Document, Any, Any, str | None]:
        table = _current(document, upstreams)
        if upstream not in table.upstreams:
            raise ChangeError(f"no upstream named {upstream!r}", status=404)
        if upstream in table.retired:
            raise ChangeError(f"upstream {upstream!r} is retired already", status=409)
        ways = reaching(table.routes, upstream)
        if ways:
            raise ChangeError(
                f"cannot retire {upstream!r}: {'; '.join(ways)}. Move each to extracted mode "
                "with fallback off first (`strangler routes set NAME --mode extracted "
                "--no-fallback --reason ...`)",
                status=409,
            )
        before = sorted(table.retired)
        after = sorted(table.retired | {upstream})
        return {**document, "retired": after}, {"retired": before}, {"retired": after}, None

    return await _apply(
        store, mutate, upstreams=upstreams, actor=actor, action="retire", reason=reason
    )


async def unretire(
    store: RouteStore, upstream: str, *, upstreams: Mapping[str, str], actor: str, reason: str
) -> Change:
    """Undo `retire`: routes may send to the upstream again (start it first)."""

    def mutate(document: Document) -> tuple[Document, Any, Any, str | None]:
        table = _current(document, upstreams)
        if upstream not in table.retired:
            raise ChangeError(f"upstream {upstream!r} is not retired", status=409)
        before = sorted(table.retired)
        after = sorted(table.retired - {upstream})
        return {**document, "retired": after}, {"retired": before}, {"retired": after}, None

    return await _apply(
        store, mutate, upstreams=upstreams, actor=actor, action="unretire", reason=reason
    )


async def note(
    store: RouteStore,
    *,
    action: str,
    route: str | None,
    reason: str,
    actor: str,
    upstreams: Mapping[str, str],
    noted: Mapping[str, Any] | None = None,
) -> Change:
    """An audited new version of the unchanged table: a moment the audit log keeps (a parity
    reset, a rollout started or paused). `route` names a route or a group of the table, or
    is None (the whole table); `noted` goes into the entry."""

    def mutate(document: Document) -> tuple[Document, Any, Any, str | None]:
        table = _current(document, upstreams)
        if route is not None and table.get(route) is None and table.group(route) is None:
            raise ChangeError(f"no route or group named {route!r}", status=404)
        return document, None, None, route

    return await _apply(
        store, mutate, upstreams=upstreams, actor=actor, action=action, reason=reason, noted=noted
    )


async def reset_parity(
    store: RouteStore,
    name: str,
    figures: Mapping[str, Any],
    *,
    upstreams: Mapping[str, str],
    actor: str,
    reason: str,
) -> Change:
    """Start a route's parity afresh (a fixed candidate should not carry its old
    mismatches): a new version of an unchanged table, whose audit entry keeps the figures
    that were set aside (as its `before`). The caller clears the counts once this is
    committed."""
    return await note(
        store,
        action="reset-parity",
        route=name,
        reason=reason,
        actor=actor,
        upstreams=upstreams,
        noted={"before": dict(figures)},
    )


async def restore(store: RouteStore, table: RouteTable, found: int) -> Change | None:
    """Put back the table a gateway served after the store went back to an older version
    `found` (0: empty), as a Redis restarted from older data does: table versions only move
    forward, so a kill switch is never undone by a crash. The table keeps its version, so
    other gateways serving it see no change; None when another gateway restored first."""
    version = table.version
    audit = {
        "version": version,
        "at": _now(),
        "actor": "gateway",
        "action": "restore",
        "route": None,
        "reason": (
            f"the route store went back to version {found}, older than version {version} that "
            "this gateway served (it lost writes: a crash); the served table is restored"
        ),
        "before": {"version": found},
        "after": {"version": version},
    }
    if await store.restore(table.to_stored(), audit):
        return Change(version, audit, table)
    return None
