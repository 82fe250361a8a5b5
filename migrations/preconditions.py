"""What must be true before a destructive (contract) step runs, and how to tell.

A contract revision calls `require(...)` first; each check returns the reasons it fails,
in words an operator can act on, and the revision stops before changing anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, text

from gateway.routes import Mode, RouteTable


class PreconditionFailed(RuntimeError):
    """A contract step refused to run; `reasons` says which preconditions failed."""

    def __init__(self, step: str, reasons: Sequence[str]):
        self.step = step
        self.reasons = tuple(reasons)
        listed = "\n".join(f"  - {reason}" for reason in self.reasons)
        super().__init__(f"{step} refuses to run:\n{listed}")


RouteSource = Callable[[], RouteTable]


def backfill_finished(conn: Connection, tables: Iterable[str]) -> list[str]:
    """Every row of `tables` has its UUID, and the backfill recorded its end."""
    reasons = []
    for table in tables:
        missing = conn.execute(
            text(f"SELECT count(*) FROM {table} WHERE uuid IS NULL")  # noqa: S608 (our names)
        ).scalar_one()
        finished = conn.execute(
            text("SELECT finished_at FROM backfill_progress WHERE step = :step"),
            {"step": f"uuid:{table}"},
        ).scalar_one_or_none()
        if missing:
            reasons.append(
                f"{missing} row(s) of {table} have no uuid yet: run `strangler migrate backfill`"
            )
        elif finished is None:
            reasons.append(
                f"the backfill of {table} has not recorded its end: run `strangler migrate "
                "backfill` to completion"
            )
    return reasons


def no_orphans(conn: Connection, child: str, column: str, parent: str) -> list[str]:
    """No `child` row points at a `parent` id that does not exist (before a foreign key)."""
    orphans = conn.execute(
        text(
            f"SELECT count(*) FROM {child} c WHERE NOT EXISTS "  # noqa: S608 (our names)
            f"(SELECT 1 FROM {parent} p WHERE p.id = c.{column})"
        )
    ).scalar_one()
    if orphans:
        return [
            f"{orphans} row(s) of {child} point at a missing {parent} row ({child}.{column}); "
            "a foreign key cannot be added until they are repaired or removed"
        ]
    return []


def retired_from_legacy(
    routes: RouteSource, requests: Iterable[tuple[str, str]], why: str
) -> list[str]:
    """Each request goes only to the extracted service: its route is in extracted mode
    with fallback to legacy off, because after this step legacy can no longer serve it."""
    try:
        table = routes()
    except Exception as exc:  # any failure to read the table is a failed precondition
        return [f"cannot read the gateway's route table (is the stack's Redis up?): {exc}"]
    reasons = []
    for method, path in requests:
        route = table.match(method, path).route
        change = f"`strangler routes set {route.name} --mode extracted --no-fallback --reason ...`"
        if route.name == table.default.name:
            reasons.append(
                f"{method} {path} matches no route, so the catch-all sends it to legacy ({why}); "
                "give it a route to the extracted service in the routes file first"
            )
        elif route.mode is not Mode.EXTRACTED:
            reasons.append(
                f"{method} {path} goes to route {route.name!r} in {route.mode.value} mode, so "
                f"legacy still serves it ({why}); switch it first: {change}"
            )
        elif route.fallback:
            reasons.append(
                f"{method} {path}: route {route.name!r} still falls back to legacy on errors "
                f"({why}); turn that off first: {change}"
            )
    return reasons


def require(step: str, reasons: Iterable[str]) -> None:
    failed = list(reasons)
    if failed:
        raise PreconditionFailed(step, failed)


def live_route_table(redis_url: str, namespace: str) -> RouteTable:
    """The table every gateway instance serves, read from the store they share."""
    from redis.asyncio import Redis

    from gateway.changes import ChangeError, require_audited
    from gateway.store import RedisRouteStore
    from strangler.settings import shown

    async def read() -> RouteTable:
        redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            store = RedisRouteStore(redis, namespace)
            version = await store.version()
            document = await store.table()
            if document is None:
                raise LookupError(
                    f"no route table under {namespace!r} at {shown(redis_url)}: has a gateway "
                    "run against this Redis?"
                )
            try:  # what the gateways serve: they never serve a version with no audit entry
                await require_audited(store, document)
            except ChangeError as exc:
                raise LookupError(f"the stored route table is not served: {exc}") from exc
        finally:
            await redis.aclose()
        # The stored table names its upstreams (their URLs are each gateway's own): only the
        # routes' modes are read here, so any URL stands in for them.
        named = {name: "http://upstream.invalid" for name in _upstream_names(document)}
        return RouteTable.from_dict(document, version, upstreams=named)

    return asyncio.run(read())


def _upstream_names(document: dict[str, Any]) -> set[str]:
    names = {"legacy"}
    for route in document.get("routes", []):
        names |= {str(route[role]) for role in ("legacy", "extracted") if route.get(role)}
    return names


def stack_route_table() -> RouteTable:
    """The route table of the stack these settings describe (REDIS_URL, STRANGLER_NAMESPACE)."""
    from strangler.settings import Settings

    settings = Settings.from_env()
    return live_route_table(settings.shop_redis_url, f"{settings.namespace}:gateway")
