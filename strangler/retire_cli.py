"""`strangler retire legacy` and `strangler unretire legacy`: stop the legacy shop once
nothing can reach it, keeping the gateway answering; start it again while the schema still
serves it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.routes import RouteTable
from migrations import history
from migrations.database import make_engine
from new_services.outbox_relay import lag as consumer_lag
from new_services.platform.outbox import outbox_events
from strangler import retiring
from strangler.routes_cli import _call as call_admin
from strangler.runner import RunnerError, Stack
from strangler.settings import Settings

Upstream = Annotated[str, typer.Argument(help="What to retire: only `legacy`, the legacy shop.")]
Reason = Annotated[str, typer.Option("--reason", help="Why: goes into the audit log (required).")]


def _legacy_only(ctx: typer.Context, upstream: str) -> Settings:
    if upstream != "legacy":
        typer.secho(f"error: only legacy can be retired, not {upstream!r}", err=True, fg="red")
        raise typer.Exit(2)
    settings: Settings = ctx.obj
    return settings


def _show(check: retiring.Check) -> bool:
    mark = "ok  " if check.ok else "FAIL"
    typer.secho(f"{mark} {check.name}: {check.figure}", fg=None if check.ok else "red")
    return check.ok


def _legacy_served(ctx: typer.Context, table: RouteTable, minutes: float) -> dict[str, int]:
    """Requests legacy answered per route over the window, summed over every gateway."""
    window = int(minutes * 60)
    served = {}
    for route in table.routes:
        figures = call_admin(ctx, "GET", f"/signals?route={route.name}&window={window}")
        served[route.name] = int(figures["sides"].get("legacy", {}).get("requests", 0))
    return served


def _capture_age_s(settings: Settings) -> float | None:
    """How long ago capture saw legacy's newest order write (None: never)."""
    engine = make_engine(settings.shop_database_url)
    try:
        with engine.connect() as conn:
            newest = conn.execute(
                select(func.max(outbox_events.c.created_at)).where(
                    outbox_events.c.topic.like("legacy.%")
                )
            ).scalar_one()
    finally:
        engine.dispose()
    if not isinstance(newest, datetime):
        return None
    if newest.tzinfo is None:  # SQLite keeps no offset; it is UTC
        newest = newest.replace(tzinfo=UTC)
    return max((datetime.now(UTC) - newest).total_seconds(), 0.0)


def _lags(settings: Settings) -> dict[str, consumer_lag.Lag] | None:
    try:
        with Redis.from_url(settings.shop_redis_url, socket_timeout=2) as redis:
            return consumer_lag.read(redis, settings.namespace)
    except (RedisError, OSError):
        return None


def retire(
    ctx: typer.Context,
    upstream: Upstream,
    reason: Reason,
    quiet_minutes: Annotated[
        float,
        typer.Option(min=1, max=60, help="Legacy must have taken no write for this long."),
    ] = 10,
    max_lag_s: Annotated[
        float, typer.Option(min=0, help="Capture has drained when every read model is this close.")
    ] = 5.0,
) -> None:
    """Check that nothing can reach legacy, that it took no write lately and that capture
    has drained (each check printed with its figure); then retire it in the route table
    (audited) and stop it. The gateway keeps answering: unmatched paths get 404."""
    settings = _legacy_only(ctx, upstream)
    table = RouteTable.from_dict(call_admin(ctx, "GET", "/routes"))
    if "legacy" in table.retired:
        typer.echo(f"legacy is retired already (table version {table.version})")
        raise typer.Exit(0)
    try:
        capture_age = _capture_age_s(settings)
    except SQLAlchemyError as exc:
        typer.secho(f"error: cannot read the outbox: {exc}", err=True, fg="red")
        raise typer.Exit(1) from exc
    checks = [
        retiring.routes(table),
        retiring.default_route(table),
        retiring.quiet(_legacy_served(ctx, table, quiet_minutes), capture_age, quiet_minutes),
        retiring.drained(_lags(settings), max_lag_s),
    ]
    if not all([_show(check) for check in checks]):
        typer.secho("error: legacy is not retired: fix what failed above", err=True, fg="red")
        raise typer.Exit(1)
    entry = call_admin(ctx, "POST", "/retire", {"upstream": "legacy", "reason": reason})
    typer.echo(f"version {entry['version']}: retire legacy by {entry['actor']} ({reason})")
    time.sleep(1)  # every gateway polls the table every 250 ms: none still sends to legacy
    Stack(settings, say=typer.echo).retire("legacy")  # `strangler up` leaves it down


def unretire(ctx: typer.Context, upstream: Upstream, reason: Reason) -> None:
    """Start legacy again and clear its retired flag, while the schema still serves it
    (before any contract step); after one, refuse, saying which step removed what."""
    settings = _legacy_only(ctx, upstream)
    engine = make_engine(settings.shop_database_url)
    try:
        with engine.connect() as conn:
            steps = history.applied_contract_steps(conn)
    finally:
        engine.dispose()
    if not _show(retiring.schema_serves_legacy(steps, history.expand_head())):
        typer.secho("error: legacy cannot come back on this schema", err=True, fg="red")
        raise typer.Exit(1)
    try:
        Stack(settings, say=typer.echo).start("legacy")
    except RunnerError as exc:
        typer.secho(f"error: legacy did not start: {exc}", err=True, fg="red")
        raise typer.Exit(1) from exc
    entry = call_admin(ctx, "POST", "/unretire", {"upstream": "legacy", "reason": reason})
    typer.echo(f"version {entry['version']}: unretire legacy by {entry['actor']} ({reason})")
