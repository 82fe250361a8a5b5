"""The rollout controller: holds the lease, and every tick moves each running rollout on by
what its gates say. Killed and restarted (or replaced by another controller), it goes on from
the state in the store: a step is passed only on a check that saw every gate pass over a whole
interval of that step, so a restart can hold a rollout, never skip a gate.

One tick, for one running rollout:
  1. the step's settings are not in the table yet: put them there (one version);
  2. someone changed its routes outside the rollout (a kill switch, `routes set`): pause;
  3. every `check_every_s`: read each gate on each route over the step's recent interval;
     a failed check counts, `failure_limit` in a row roll back to legacy; a pass that covers
     a whole interval moves to the next step, or after the last, runs the pre-promotion
     checks and promotes; an inconclusive one (too few requests) waits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx

from gateway import changes
from gateway.rollouts import moves
from gateway.rollouts.gates import Signals, Verdict, judge, overall
from gateway.rollouts.state import (
    ABORTED,
    PAUSED,
    RUNNING,
    SHADOW_STEP,
    SUCCEEDED,
    Rollout,
    RolloutStore,
)
from gateway.signals import KEEP_S as SIGNALS_KEEP_S
from gateway.signals import SignalStore

log = logging.getLogger("gateway.rollouts")
ACTOR = "rollout-controller"
Clock = Callable[[], float]


# a controller's own last move of a rollout, by its audit action: the status it ends in
ENDINGS = {
    "rollout-rollback": (ABORTED, "rolled-back"),
    "rollout-complete": (SUCCEEDED, "succeeded"),
}


class LeaseLost(Exception):
    """Another controller took the lease while this one worked: it acts no more this tick."""


@dataclass
class Controller:
    rollouts: RolloutStore
    tables: moves.Tables
    signals: SignalStore
    owner: str  # this controller's name in the lease
    http: httpx.AsyncClient  # for the pre-promotion checks
    clock: Clock = time.time
    lease_s: float = 5.0

    async def tick(self) -> bool:
        """One pass over the running rollouts; False when another controller holds the lease."""
        if not await self.rollouts.lease(self.owner, self.lease_s):
            return False
        for rollout in await self.rollouts.all():
            if rollout.status != RUNNING:
                continue
            try:
                await self._advance(rollout)
            except LeaseLost:
                log.warning("rollout controller %s lost the lease mid-tick", self.owner)
                return False
            except changes.ChangeError as exc:
                log.warning("rollout %s holds: %s", rollout.name, exc)
                await self._save(replace(rollout, note=f"holds: {exc}"))
        return True

    async def _save(self, rollout: Rollout) -> Rollout | None:
        saved = await self.rollouts.save(rollout, owner=self.owner)
        if saved is None:
            log.info("rollout %s changed under this tick (or the lease was lost)", rollout.name)
        return saved

    async def _move(
        self, rollout: Rollout, settings: Mapping[str, Any], **change: Any
    ) -> changes.Change:
        """The routes to `settings` (moves.move), by the lease's holder only: renewed first, so
        a controller that stalled past its lease (a slow pre-promotion check, a paused VM) and
        lost it to another moves nothing. This narrows the window to one round trip; closing
        it would take the table's commit checking the lease."""
        if not await self.rollouts.lease(self.owner, self.lease_s):
            raise LeaseLost(self.owner)
        return await moves.move(self.tables, rollout, settings, **change)

    async def _advance(self, rollout: Rollout) -> None:
        now = self.clock()
        live = await self.tables.live()
        # the state again, after the table: an operator's abort (state, then its move) that
        # landed since the state was read would otherwise see its legacy table moved on by
        # this tick's step; one that lands from here on changes the version moved on
        current = await self.rollouts.get(rollout.name)
        if current is None or current.rev != rollout.rev:
            return
        settings = moves.step_settings(rollout, rollout.step)
        if not rollout.applied:
            await self._apply(rollout, settings, live.version, now)
            return
        moved = moves.holds(live, rollout.routes, settings)
        if moved and (ended := await self._ended(rollout, live.version, now)) is not None:
            await self._save(ended)
            return
        if moved:
            await self._save(
                replace(
                    rollout,
                    status=PAUSED,
                    note=(
                        f"paused: {', '.join(moved)} changed outside the rollout (table version "
                        f"{live.version}); `strangler rollout resume {rollout.name}` goes on "
                        "from this step, `abort` sends it back to legacy"
                    ),
                ).noted(at=now, action="paused", version=live.version, moved=moved)
            )
            return
        assert rollout.step_started_at is not None
        if not self._due(rollout, now):
            return
        verdicts = await self._check(rollout, now)
        outcome = overall(verdicts)
        whole = now - rollout.step_started_at >= self._hold_s(rollout)
        check = {
            "at": now,
            "step": rollout.step,
            "weight": rollout.weight,
            "outcome": outcome,
            "window_s": round(now - max(rollout.step_started_at, now - rollout.spec.interval_s), 3),
            "whole_interval": whole,
            "verdicts": [v.to_dict() for v in verdicts],
        }
        checked = replace(rollout, checked_at=now, last_check=check)
        if outcome == "fail":
            failures = rollout.failures + 1
            failed = [v for v in verdicts if v.outcome == "fail"]
            if failures >= rollout.spec.failure_limit:
                await self._roll_back(replace(checked, failures=failures), failed, live.version)
                return
            await self._save(
                replace(checked, failures=failures, note=_failing(failed, failures, rollout))
            )
        elif outcome == "inconclusive":
            waiting = [v.detail for v in verdicts if v.outcome == "inconclusive"]
            await self._save(replace(checked, note="inconclusive, waiting: " + "; ".join(waiting)))
        elif not whole:
            left = self._hold_s(rollout) - (now - rollout.step_started_at)
            await self._save(replace(checked, failures=0, note=f"passing, next in {left:.0f} s"))
        else:
            await self._next(replace(checked, failures=0), verdicts, live.version, now)

    async def _ended(self, rollout: Rollout, version: int, now: float) -> Rollout | None:
        """`rollout` as its own rollback or promotion left it, when the table has one since its
        step that its state lacks (the store failed between the move and the save): not a
        pause, which `resume` would take back to the step that failed."""
        since = version - (rollout.step_version or version)
        if since <= 0:
            return None
        for entry in reversed(await self.tables.store.audit(min(since, 100))):
            if entry.get("rollout") != rollout.name or entry.get("action") not in ENDINGS:
                continue
            status, event = ENDINGS[entry["action"]]
            return replace(rollout, status=status, note=f"{event}: {entry['reason']}").noted(
                at=now, action=event, gate=entry.get("gate"), version=entry["version"]
            )
        return None

    def _due(self, rollout: Rollout, now: float) -> bool:
        """A check is due every `check_every_s`, and as soon as the step has held its
        interval (so a passing step moves on then, not up to half an interval later)."""
        assert rollout.step_started_at is not None
        if rollout.checked_at is None or now - rollout.checked_at >= rollout.spec.check_every_s:
            return True
        step_ends = rollout.step_started_at + self._hold_s(rollout)
        return rollout.checked_at < step_ends <= now

    @staticmethod
    def _hold_s(rollout: Rollout) -> float:
        return rollout.spec.shadow_s if rollout.step == SHADOW_STEP else rollout.spec.interval_s

    async def _check(self, rollout: Rollout, now: float) -> list[Verdict]:
        assert rollout.step_started_at is not None
        start = max(rollout.step_started_at, now - rollout.spec.interval_s)
        gates = rollout.spec.gates
        if rollout.step == SHADOW_STEP:  # nothing but mirrors reach the extracted side
            gates = tuple(g for g in gates if g.metric == "parity")
        verdicts = []
        least = rollout.spec.min_requests
        for route in rollout.routes:
            window: Signals = await self.signals.window(route, start, now)
            found = [judge(g, route, window, window, least) for g in gates]
            # legacy's side of a comparison falls back to the whole rollout (read only then:
            # an hour of seconds is thousands of keys) when the window holds too few
            wider = [
                i
                for i, (g, v) in enumerate(zip(gates, found, strict=True))
                if v.outcome == "inconclusive" and (g.metric == "parity" or g.relative)
            ]
            if wider:
                since = max(rollout.started_at, now - SIGNALS_KEEP_S)
                whole: Signals = await self.signals.window(route, since, now)
                for i in wider:
                    found[i] = judge(gates[i], route, window, whole, least)
            verdicts += found
        return verdicts

    async def _apply(
        self, rollout: Rollout, settings: dict[str, Any], version: int, now: float
    ) -> None:
        """Put the step's settings in the table, unless they are there already (a controller
        that died between the change and saving its state)."""
        live = await self.tables.live()
        if moves.holds(live, rollout.routes, settings):
            label = "shadow phase" if rollout.step == SHADOW_STEP else f"{rollout.weight:g}%"
            change = await self._move(
                rollout,
                settings,
                actor=ACTOR,
                action="rollout-step",
                reason=(
                    f"rollout {rollout.name}: step {rollout.step + 1} of "
                    f"{len(rollout.spec.steps)}, {label}"
                ),
                noted={"step": rollout.step, "weight": rollout.weight, "controller": self.owner},
                on_version=version,
            )
            version = change.version
        await self._save(
            replace(
                rollout,
                applied=True,
                step_started_at=now,
                step_version=version,
                failures=0,
                checked_at=None,
                note="step started",
            ).noted(
                at=now, action="step", step=rollout.step, weight=rollout.weight, version=version
            )
        )

    async def _next(
        self, rollout: Rollout, verdicts: list[Verdict], version: int, now: float
    ) -> None:
        passed = "; ".join(v.detail for v in verdicts)
        if rollout.step + 1 < len(rollout.spec.steps):
            nxt = replace(rollout, step=rollout.step + 1, applied=False, note=f"passed: {passed}")
            saved = await self._save(nxt.noted(at=now, action="passed", step=rollout.step))
            if saved is not None:
                await self._apply(saved, moves.step_settings(saved, saved.step), version, now)
            return
        failed = await self._run_checks(rollout)
        if failed:
            await self._save(replace(rollout, note=f"waiting for pre-promotion checks: {failed}"))
            return
        change = await self._move(
            rollout,
            moves.PROMOTED,
            actor=ACTOR,
            action="rollout-complete",
            reason=f"rollout {rollout.name}: every step passed ({passed})",
            noted={"verdicts": [v.to_dict() for v in verdicts], "controller": self.owner},
            on_version=version,
        )
        await self._save(
            replace(rollout, status=SUCCEEDED, note="every step passed: promoted").noted(
                at=now, action="succeeded", version=change.version
            )
        )

    async def _run_checks(self, rollout: Rollout) -> str:
        """'' when every pre-promotion check answered 2xx, else what failed. The lease is
        renewed before each: checks that together outlast it would otherwise lose it to the
        standby before the promotion, every time (each check takes at most 5 s)."""
        for check in rollout.spec.checks:
            if not await self.rollouts.lease(self.owner, self.lease_s):
                raise LeaseLost(self.owner)
            try:
                response = await self.http.get(check.url, timeout=5.0)
            except httpx.HTTPError as exc:
                return f"{check.url}: {type(exc).__name__}"
            if not response.is_success:
                return f"{check.url}: {response.status_code}"
        return ""

    async def _roll_back(self, rollout: Rollout, failed: list[Verdict], version: int) -> None:
        gates = ", ".join(sorted({v.gate for v in failed}))
        details = "; ".join(f"{v.route}: {v.detail}" for v in failed)
        change = await self._move(
            rollout,
            moves.BACK_TO_LEGACY,
            actor=ACTOR,
            action="rollout-rollback",
            reason=(
                f"rollout {rollout.name}: gate {gates} failed {rollout.failures} checks in a "
                f"row at {rollout.weight:g}%: {details}"
            )[: changes.MAX_REASON_CHARS],
            noted={
                "gate": gates,
                "step": rollout.step,
                "weight": rollout.weight,
                "verdicts": [v.to_dict() for v in failed],
                "controller": self.owner,
            },
            on_version=version,  # a change since this check was read: judged again
        )
        await self._save(
            replace(rollout, status=ABORTED, note=f"rolled back: {details}").noted(
                at=self.clock(), action="rolled-back", gate=gates, version=change.version
            )
        )


def _failing(failed: list[Verdict], failures: int, rollout: Rollout) -> str:
    details = "; ".join(f"{v.route}: {v.detail}" for v in failed)
    return f"failing ({failures} of {rollout.spec.failure_limit} checks): {details}"
