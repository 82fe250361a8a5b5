"""`strangler rollout ...`: start and steer metric-gated rollouts through the admin API."""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from strangler.routes_cli import JsonFlag, Reason
from strangler.routes_cli import _call as call

app = typer.Typer(
    help="Walk a route (or a group) to its extracted side in gated steps; roll back on failure.",
    no_args_is_help=True,
)
Name = Annotated[str, typer.Argument(help="The rollout: its route's or group's name.")]


@app.command()
def start(
    ctx: typer.Context,
    reason: Reason,
    name: Annotated[str | None, typer.Argument(help="The route to roll out.")] = None,
    group: Annotated[str | None, typer.Option(help="Roll out a route group instead.")] = None,
    steps: Annotated[str, typer.Option(help="Canary weights, rising.")] = "5,25,50,100",
    interval: Annotated[str, typer.Option(help="How long each step holds: 30s, 2m.")] = "30s",
    gate: Annotated[
        list[str] | None,
        typer.Option(help="parity>=0.999 | errors<=0.5% | p99<=1.2x legacy | p95<=250ms (repeat)."),
    ] = None,
    min_requests: Annotated[
        int, typer.Option(help="Fewer requests in a check is inconclusive: wait.")
    ] = 200,
    failure_limit: Annotated[
        int, typer.Option(help="Failed checks in a row that roll back to legacy.")
    ] = 2,
    shadow: Annotated[
        str | None, typer.Option(help="A shadow phase first, gated on parity (e.g. 60s).")
    ] = None,
    check: Annotated[
        list[str] | None,
        typer.Option(help="A URL that must answer 2xx before promotion (repeat)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """`strangler rollout start products --steps 5,25,50,100 --interval 30s --gate 'parity>=0.999'
    --gate 'errors<=0.5%' --gate 'p99<=1.2x legacy' --reason "catalog 1.4"`."""
    if (name is None) == (group is None):
        typer.secho("error: name a route, or give --group", err=True, fg="red")
        raise typer.Exit(2)
    spec: dict[str, Any] = {
        **({"group": group} if group else {"route": name}),
        "steps": steps,
        "interval": interval,
        "gates": gate or ["parity>=0.999", "errors<=0.5%", "p99<=1.2x legacy"],
        "min_requests": min_requests,
        "failure_limit": failure_limit,
        **({"shadow": shadow} if shadow else {}),
        **({"checks": check} if check else {}),
    }
    _print(call(ctx, "POST", "/rollouts", {**spec, "reason": reason}), as_json)


@app.command()
def apply(ctx: typer.Context, file: Path, as_json: JsonFlag = False) -> None:
    """Start the rollout a TOML file declares: a [rollout] table with the settings of
    `start` (route or group, steps, interval, gates, ...) and a reason."""
    try:
        document = tomllib.loads(file.read_text())
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, or not TOML
        typer.secho(f"error: cannot read {file}: {exc}", err=True, fg="red")
        raise typer.Exit(2) from exc
    spec = document.get("rollout")
    if not isinstance(spec, dict):
        typer.secho(f"error: {file} has no [rollout] table", err=True, fg="red")
        raise typer.Exit(2)
    _print(call(ctx, "POST", "/rollouts", spec), as_json)


@app.command()
def status(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One rollout (default: all).")] = None,
    watch: Annotated[bool, typer.Option(help="Redraw every second until it ends.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Each rollout: its step, each gate's value against its threshold, time to the next step."""
    while True:
        answer = call(ctx, "GET", f"/rollouts/{name}" if name else "/rollouts")
        rollouts = [answer] if name else answer["rollouts"]
        if as_json:
            typer.echo(json.dumps(answer, indent=2))
        else:
            if watch:
                typer.echo("\x1b[2J\x1b[H", nl=False)
            typer.echo(f"controller: {answer.get('controller') or 'none holds the lease'}")
            for rollout in rollouts:
                typer.echo(view(rollout, time.time()))
        if not watch or all(r["status"] not in ("running", "paused") for r in rollouts):
            return
        time.sleep(1)


def view(rollout: dict[str, Any], now: float) -> str:
    """A rollout as a few lines of text."""
    spec = rollout["spec"]
    steps = spec["steps"]
    step = rollout["step"]
    where = (
        "shadow phase" if step < 0 else f"step {step + 1}/{len(steps)} at {rollout['weight']:g}%"
    )
    lines = [
        f"{rollout['name']}: {rollout['status']}, {where} "
        f"(steps {','.join(f'{s:g}' for s in steps)}, every {spec['interval_s']:g} s; "
        f"routes {', '.join(rollout['routes'])})"
    ]
    started = rollout.get("step_started_at")
    if rollout["status"] == "running" and started is not None:
        hold = spec["shadow_s"] if step < 0 else spec["interval_s"]
        left = max(0.0, started + hold - now)
        lines.append(f"  next step in {left:.0f} s if every gate passes")
    check = rollout.get("last_check")
    if check:
        lines.append(f"  last check {now - check['at']:.0f} s ago: {check['outcome']}")
        for v in check["verdicts"]:
            mark = {"pass": "ok  ", "fail": "FAIL", "inconclusive": "wait"}[v["outcome"]]
            lines.append(f"    {mark} {v['route']:<20} {v['gate']:<18} {v['detail']}")
    if rollout.get("failures"):
        lines.append(f"  failed checks in a row: {rollout['failures']} of {spec['failure_limit']}")
    if rollout.get("note"):
        lines.append(f"  {rollout['note']}")
    return "\n".join(lines)


def _turn(verb: str):  # type: ignore[no-untyped-def]
    def command(ctx: typer.Context, name: Name, reason: Reason, as_json: JsonFlag = False) -> None:
        _print(call(ctx, "POST", f"/rollouts/{name}/{verb}", {"reason": reason}), as_json)

    return command


app.command("pause", help="Hold the rollout at its step: no check, no move.")(_turn("pause"))
app.command("resume", help="Go on from the step it holds (the step's interval starts afresh).")(
    _turn("resume")
)
app.command("abort", help="Stop it and send its routes back to legacy, now.")(_turn("abort"))


@app.command()
def promote(
    ctx: typer.Context,
    name: Name,
    reason: Reason,
    force: Annotated[bool, typer.Option(help="Past the coexistence guard (audited).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Skip the remaining steps: its routes to their extracted side now (audited, with a reason)."""
    body = {"reason": reason, **({"force": True} if force else {})}
    _print(call(ctx, "POST", f"/rollouts/{name}/promote", body), as_json)


def _print(rollout: dict[str, Any], as_json: bool) -> None:
    typer.echo(json.dumps(rollout, indent=2) if as_json else view(rollout, time.time()))
