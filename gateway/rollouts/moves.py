"""How a rollout changes the route table: each step, the rollback and the promotion are one
table version with one audit entry for all its routes, and a move forward passes the same
coexistence guard an operator's change does (gateway/coexistence.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway import changes, coexistence
from gateway.rollouts.state import SHADOW_STEP, Rollout
from gateway.routes import RouteTable
from gateway.store import RouteStore
from new_services.outbox_relay.lag import Lag

Lags = Callable[[], Awaitable[Mapping[str, Lag] | None]]
BACK_TO_LEGACY = {"mode": "legacy", "weight": 0.0, "canary_mirror": False}
PROMOTED = {"mode": "extracted", "weight": 100.0, "canary_mirror": False}


@dataclass(frozen=True)
class Tables:
    """What moving routes needs: the store, this process's routes file (its upstream URLs and
    data declarations) and the read models' lag (for the coexistence guard)."""

    store: RouteStore
    declared: RouteTable
    lags: Lags
    max_lag_s: float

    async def live(self) -> RouteTable:
        """The live table; one this process cannot serve is a ChangeError 409 (the rollout
        holds), never another exception that would take the controller down with it."""
        try:
            return await changes.load(self.store, self.declared.upstreams)
        except changes.ChangeError:
            raise
        except ValueError as exc:  # not JSON, or not a table on our upstreams: written around
            raise changes.ChangeError(f"the stored route table is refused: {exc}", 409) from exc


def step_settings(rollout: Rollout, step: int) -> dict[str, Any]:
    """The route settings of `step` (the shadow phase: mirrored, nothing moved)."""
    if step == SHADOW_STEP:
        return {"mode": "shadow", "weight": 0.0, "canary_mirror": False}
    return {
        "mode": "canary",
        "weight": rollout.spec.steps[step],
        "canary_mirror": rollout.spec.mirrors,
    }


def holds(table: RouteTable, routes: tuple[str, ...], settings: Mapping[str, Any]) -> list[str]:
    """The routes whose live mode and weight are not `settings`' (changed outside the rollout)."""
    moved = []
    for name in routes:
        route = table.get(name)
        if (
            route is None
            or route.mode.value != settings["mode"]
            or route.weight != settings["weight"]
        ):
            moved.append(name)
    return moved


async def check(
    tables: Tables, rollout: Rollout, settings: Mapping[str, Any], refuse: bool = True
) -> list[coexistence.Blocked]:
    """What the coexistence guard says of moving the rollout's routes to `settings`: with
    `refuse`, a ChangeError 409 naming what blocks the first blocked route."""
    live = await tables.live()
    lags = await tables.lags()
    blocked = [
        found
        for name in rollout.routes
        if (
            found := coexistence.check(
                tables.declared, live, name, settings, lags, tables.max_lag_s
            )
        )
        is not None
    ]
    if blocked and refuse:
        raise changes.ChangeError(blocked[0].message(tables.max_lag_s), 409)
    return blocked


async def move(
    tables: Tables,
    rollout: Rollout,
    settings: Mapping[str, Any],
    *,
    actor: str,
    action: str,
    reason: str,
    noted: Mapping[str, Any] | None = None,
    on_version: int | None = None,
    force: bool = False,
) -> changes.Change:
    """Every route of `rollout` to `settings` in one version. A move that sends more requests
    to an extracted side is refused (ChangeError 409) while the guard blocks any of its routes,
    unless forced (the audit entry then says what was forced past)."""
    blocked = await check(tables, rollout, settings, refuse=not force)
    extra = {"rollout": rollout.name, **(noted or {})}
    if blocked:
        extra["forced"] = "; ".join(b.state for b in blocked)
    return await changes.set_routes(
        tables.store,
        {name: dict(settings) for name in rollout.routes},
        upstreams=tables.declared.upstreams,
        actor=actor,
        reason=reason,
        action=action,
        route_label=rollout.name,
        noted=extra,
        on_version=on_version,
    )
