"""What an operator does to a rollout (start, pause, resume, abort, promote), for the admin API
and its CLI. Each is audited in the route table's log: start, pause and resume as an entry on
an unchanged table, abort and promote as the change that moves the routes.

The rollout's state is written before the routes move, and the controller moves routes only on
the table version it read after the state: whatever the order of an operator's abort and the
controller's next step, the abort's move to legacy lands last.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gateway import changes
from gateway.rollouts import moves
from gateway.rollouts.spec import RolloutSpec, SpecError
from gateway.rollouts.state import (
    ABORTED,
    ACTIVE,
    PAUSED,
    PROMOTED,
    RUNNING,
    SHADOW_STEP,
    Rollout,
    RolloutStore,
)
from gateway.routes import RouteTable


def members(table: RouteTable, spec: RolloutSpec) -> tuple[str, ...]:
    """The routes a rollout moves: its route, or its group's routes (ChangeError 404/422)."""
    if spec.group:
        group = table.group(spec.name)
        if group is None:
            raise changes.ChangeError(f"no route group named {spec.name!r}", 404)
        names = tuple(group.routes)
    else:
        names = (spec.name,)
    for name in names:
        route = table.get(name)
        if route is None:
            raise changes.ChangeError(f"no route named {name!r}", 404)
        if route.extracted is None:
            raise changes.ChangeError(f"route {name!r} has no extracted upstream to roll out", 422)
    return names


@dataclass(frozen=True)
class Operations:
    rollouts: RolloutStore
    tables: moves.Tables
    clock: Callable[[], float] = time.time

    async def start(self, raw: Mapping[str, Any], *, actor: str, reason: str) -> Rollout:
        reason = changes.valid_reason(reason)
        try:
            spec = RolloutSpec.from_mapping(raw)
        except SpecError as exc:
            raise changes.ChangeError(str(exc)) from exc
        routes = members(await self.tables.live(), spec)
        for other in await self.rollouts.all():
            if other.status in ACTIVE and set(other.routes) & set(routes):
                raise changes.ChangeError(
                    f"rollout {other.name} ({other.status}) already moves "
                    f"{', '.join(sorted(set(other.routes) & set(routes)))}: abort or promote it "
                    "first",
                    409,
                )
        previous = await self.rollouts.get(spec.name)
        now = self.clock()
        rollout = Rollout(
            spec=spec,
            routes=routes,
            started_at=now,
            step=SHADOW_STEP if spec.shadow_s else 0,
            note="waiting for the controller to take the first step",
            rev=previous.rev if previous else 0,
        ).noted(at=now, action="started", actor=actor, reason=reason)
        saved = await self.rollouts.save(rollout)
        if saved is None:
            raise changes.ChangeError(f"rollout {spec.name} changed meanwhile; try again", 409)
        await changes.note(
            self.tables.store,
            action="rollout-start",
            route=spec.name,
            reason=reason,
            actor=actor,
            upstreams=self.tables.declared.upstreams,
            noted={"rollout": spec.name, "spec": spec.to_dict(), "routes": list(routes)},
        )
        return saved

    async def get(self, name: str) -> Rollout:
        rollout = await self.rollouts.get(name)
        if rollout is None:
            raise changes.ChangeError(f"no rollout named {name!r}", 404)
        return rollout

    async def pause(self, name: str, *, actor: str, reason: str) -> Rollout:
        return await self._turn(name, "pause", {RUNNING}, actor, reason, status=PAUSED)

    async def resume(self, name: str, *, actor: str, reason: str) -> Rollout:
        # the step starts afresh: a whole interval must pass again before the next one
        return await self._turn(
            name,
            "resume",
            {PAUSED},
            actor,
            reason,
            status=RUNNING,
            applied=False,
            failures=0,
            checked_at=None,
        )

    async def abort(self, name: str, *, actor: str, reason: str) -> Rollout:
        return await self._turn(
            name, "abort", ACTIVE, actor, reason, status=ABORTED, to=moves.BACK_TO_LEGACY
        )

    async def promote(self, name: str, *, actor: str, reason: str, force: bool = False) -> Rollout:
        return await self._turn(
            name, "promote", ACTIVE, actor, reason, status=PROMOTED, to=moves.PROMOTED, force=force
        )

    async def _turn(
        self,
        name: str,
        verb: str,
        allowed: set[str] | frozenset[str],
        actor: str,
        reason: str,
        *,
        to: Mapping[str, Any] | None = None,
        force: bool = False,
        **fields: Any,
    ) -> Rollout:
        reason = changes.valid_reason(reason)
        rollout = await self.get(name)
        if rollout.status not in allowed:
            raise changes.ChangeError(
                f"rollout {name} is {rollout.status}: it cannot {verb} "
                f"(only a rollout that is {' or '.join(sorted(allowed))})",
                409,
            )
        live = await self.tables.live()
        if verb in ("resume", "promote"):
            # its routes must still be there to move on (a reseed can drop one): refused
            # before anything is written, like a move the guard would refuse
            members(live, rollout.spec)
        if to is not None and to is moves.PROMOTED and not force:
            await moves.check(self.tables, rollout, to)
        # an abort or a pause goes through whatever is left of its routes
        present = tuple(r for r in rollout.routes if live.get(r) is not None)
        named = live.get(name) is not None or live.group(name) is not None
        now = self.clock()
        turned = replace(rollout, note=f"{verb} by {actor}: {reason}", **fields).noted(
            at=now, action=verb, actor=actor, reason=reason
        )
        saved = await self.rollouts.save(turned)
        if saved is None:
            raise changes.ChangeError(f"rollout {name} changed meanwhile; try again", 409)
        if to is None or not present:
            await changes.note(
                self.tables.store,
                action=f"rollout-{verb}",
                route=name if named else None,
                reason=reason,
                actor=actor,
                upstreams=self.tables.declared.upstreams,
                noted={"rollout": name, "step": rollout.step, "weight": rollout.weight},
            )
        else:
            await moves.move(
                self.tables,
                replace(saved, routes=present),
                to,
                actor=actor,
                action=f"rollout-{verb}",
                reason=reason,
                noted={"step": rollout.step, "weight": rollout.weight},
                force=force,
            )
        return saved
