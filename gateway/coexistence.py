"""The guard on moving a route whose extracted side reads a read model that legacy's writes
reach only through capture (issue #17).

Routes declare their data in the routes file: `reads` (what the extracted side reads, from
the read model `read_model`, an outbox consumer) and `writes`. A route R that reads data D
from read model M may serve from its extracted side (canary or extracted) only when every
other route that writes D is extracted already, or when legacy's writes of D reach M: the
outbox relay runs (its figures are fresh), M's lag is within `max_lag_s`, and no job of M's
is parked. Otherwise the move is refused, naming the routes that block it and what
unblocks it; an operator may force it, with a reason, and the audit entry says so.

Declarations come from this gateway's routes file, like upstream URLs: the stored table
cannot drop them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.routes import Mode, Route, RouteTable
from new_services.outbox_relay.lag import Lag


@dataclass(frozen=True)
class Blocked:
    """Why moving `route` now would serve a read model that misses writes."""

    route: str
    read_model: str
    data: tuple[str, ...]
    writers: tuple[str, ...]  # routes that still send writes of `data` to legacy
    state: str  # what capture into the read model is doing

    def message(self, max_lag_s: float) -> str:
        writers = ", ".join(self.writers)
        first = self.writers[0]
        return (
            f"route {self.route} reads {', '.join(self.data)} from the {self.read_model} "
            f"read model, and {writers} still send writes of it to legacy, which reach "
            f"{self.read_model} only through capture: {self.state}. To unblock: start the "
            f"outbox relay and the {self.read_model} worker (`strangler up`) and wait until "
            f"`strangler status` shows {self.read_model} under {max_lag_s:g} s with nothing "
            f"parked (`strangler jobs failed`); or move {writers} first (`strangler routes set "
            f"{first} --mode extracted --reason ...`); or, knowing the report will miss "
            "writes, repeat the change with --force and a reason (audited)"
        )


def exposure(route: Route, settings: Mapping[str, Any]) -> float:
    """After `settings`, the share (%) of the route's requests its extracted side answers."""
    mode = settings.get("mode", route.mode.value)
    weight = settings.get("weight", route.weight)
    if mode == Mode.EXTRACTED.value:
        return 100.0
    if mode == Mode.CANARY.value and isinstance(weight, int | float):
        return float(weight)
    return 0.0


def check(
    declared: RouteTable,
    live: RouteTable,
    name: str,
    settings: Mapping[str, Any],
    lags: Mapping[str, Lag] | None,
    max_lag_s: float,
    moving: Mapping[str, Mapping[str, Any]] | None = None,
) -> Blocked | None:
    """None when `settings` may be applied to route `name`; else why not. `moving`: the
    other routes' settings in the same change (a writer moved to extracted with it is no
    longer a writer on legacy)."""
    route, now = declared.get(name), live.get(name)
    if route is None or now is None or not route.reads or route.read_model is None:
        return None
    if exposure(now, settings) <= exposure(now, {}):
        return None  # it sends no more requests to its extracted side than it does now
    moving = moving or {}
    writers = tuple(
        other.name
        for other in declared.routes
        if other.name != name
        and set(other.writes) & set(route.reads)
        and _mode_after(live.get(other.name) or other, moving.get(other.name, {}))
        != Mode.EXTRACTED.value
    )
    if not writers:
        return None
    lag = (lags or {}).get(route.read_model)
    if lags is None:
        state = "no figures (the outbox relay is not running)"
    elif lag is None:
        state = f"the relay feeds no consumer named {route.read_model}"
    elif lag.failed:
        state = f"{lag.failed} of its jobs are parked (`strangler jobs failed`)"
    elif lag.seconds > max_lag_s:
        state = f"behind by {lag.seconds:.1f} s (the bound is {max_lag_s:g} s)"
    else:
        return None
    return Blocked(name, route.read_model, route.reads, writers, state)


def check_all(
    declared: RouteTable,
    live: RouteTable,
    moves: Mapping[str, Mapping[str, Any]],
    lags: Mapping[str, Lag] | None,
    max_lag_s: float,
) -> list[Blocked]:
    """Every route of one change (`moves`: route -> settings, a group's move) that may not
    move now; the change goes through whole or not at all."""
    found = (check(declared, live, n, s, lags, max_lag_s, moves) for n, s in moves.items())
    return [blocked for blocked in found if blocked is not None]


def _mode_after(route: Route, settings: Mapping[str, Any]) -> Any:
    return settings.get("mode", route.mode.value)
