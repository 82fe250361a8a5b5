"""`strangler routes ...`: operate the gateway's route table through its admin API."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer

from strangler.parts import admin_token
from strangler.settings import Settings

app = typer.Typer(
    help="List, change, kill and roll back the gateway's routes.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]
Reason = Annotated[str, typer.Option("--reason", help="Why: goes into the audit log (required).")]


def _admin(ctx: typer.Context) -> httpx.Client:
    settings: Settings = ctx.obj
    token = admin_token(settings)
    if not token:
        typer.secho(
            "error: no admin token: set GATEWAY_ADMIN_TOKEN or start the stack (`strangler up`)",
            err=True,
            fg="red",
        )
        raise typer.Exit(1)
    return httpx.Client(
        base_url=settings.url("gateway-admin"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _call(ctx: typer.Context, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    try:
        with _admin(ctx) as client:
            response = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        typer.secho(f"error: the gateway admin API is unreachable: {exc}", err=True, fg="red")
        raise typer.Exit(1) from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        typer.secho(f"error ({response.status_code}): {detail}", err=True, fg="red")
        raise typer.Exit(1)
    return response.json()


def _print_change(entry: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(entry, indent=2))
        return
    typer.echo(
        f"version {entry['version']}: {entry['action']} {entry.get('route') or ''} "
        f"by {entry['actor']} ({entry['reason']})"
    )


@app.command("list")
def list_routes(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every route with its mode and weight, in match order."""
    table = _call(ctx, "GET", "/routes")
    if as_json:
        typer.echo(json.dumps(table, indent=2))
        return
    typer.echo(f"table version {table['version']}")
    typer.echo(f"{'route':<16} {'mode':<10} {'weight':>6}  match")
    for route in table["routes"]:
        typer.echo(
            f"{route['name']:<16} {route['mode']:<10} {route['weight']:>6g}  "
            f"{' '.join(route['match'])}"
        )
        if route.get("fault"):
            typer.echo(f"{'':<16} {_fault_line(route['fault'], datetime.now(UTC))}")
    typer.echo(f"{'default':<16} {'legacy':<10} {'':>6}  everything else")


def _fault_line(fault: dict[str, Any], now: datetime) -> str:
    """`fault: delay 200ms, abort 503 50% until 12:04:05Z`, or that it has expired."""
    until = datetime.fromisoformat(fault["until"])
    when = until.strftime("%H:%M:%SZ" if until.date() == now.date() else "%Y-%m-%d %H:%M:%SZ")
    if until <= now:
        return f"fault: expired at {when} (inert)"
    kinds = []
    if fault.get("delay_ms") is not None:
        kinds.append(f"delay {fault['delay_ms']}ms")
    if fault.get("abort_status") is not None:
        kinds.append(f"abort {fault['abort_status']}")
    return f"fault: {', '.join(kinds)} {fault['percent']:g}% until {when}"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def _seconds(option: str, text: str, unit: str) -> float:
    """`200ms`, `1.5s`, `2m`, `1h`; a bare number is in `unit`."""
    found = _DURATION.match(text.strip())
    if found is None:
        typer.secho(
            f"error: {option} takes a duration such as 200ms, 1.5s, 2m or 1h, not {text!r}",
            err=True,
            fg="red",
        )
        raise typer.Exit(2)
    return float(found.group(1)) * _UNIT_S[found.group(2) or unit]


@app.command()
def fault(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The route.")],
    reason: Reason,
    abort: Annotated[
        int | None,
        typer.Option(help="Answer this status (400..599) in place of the extracted upstream."),
    ] = None,
    delay: Annotated[
        str | None, typer.Option(help="Wait this long before sending: 200ms, 1.5s.")
    ] = None,
    percent: Annotated[
        float, typer.Option(help="Share of the route's extracted requests, above 0 to 100.")
    ] = 100,
    for_: Annotated[
        str | None, typer.Option("--for", help="How long it lasts: 90s, 2m, 1h (a day at most).")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="End the route's fault now.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Inject a fault into the extracted side of a route, to prove fallback and rollback:
    `strangler routes fault orders --abort 503 --percent 50 --for 2m --reason drill`.

    Only requests the route sends to its extracted side draw it (never legacy, shadow
    mirrors or a developer's override); it ends by itself after --for."""
    if clear:
        if abort is not None or delay is not None or for_ is not None:
            typer.secho("error: --clear takes only --reason", err=True, fg="red")
            raise typer.Exit(2)
        _print_change(_call(ctx, "DELETE", f"/routes/{name}/fault", {"reason": reason}), as_json)
        return
    if for_ is None or (abort is None and delay is None):
        typer.secho(
            "error: give --for and --abort, --delay or both (or --clear)", err=True, fg="red"
        )
        raise typer.Exit(2)
    body: dict[str, Any] = {
        "percent": percent,
        "for_s": _seconds("--for", for_, "s"),
        "reason": reason,
    }
    if abort is not None:
        body["abort_status"] = abort
    if delay is not None:
        body["delay_ms"] = round(_seconds("--delay", delay, "ms") * 1000)
    _print_change(_call(ctx, "PUT", f"/routes/{name}/fault", body), as_json)


@app.command()
def show(ctx: typer.Context, name: str, as_json: JsonFlag = False) -> None:
    """One route's settings."""
    route = _call(ctx, "GET", f"/routes/{name}")
    if as_json:
        typer.echo(json.dumps(route, indent=2))
        return
    for key, value in route.items():
        typer.echo(f"{key:<18} {value}")


@app.command("set")
def set_route(
    ctx: typer.Context,
    name: str,
    reason: Reason,
    mode: Annotated[str | None, typer.Option(help="legacy | shadow | canary | extracted")] = None,
    weight: Annotated[float | None, typer.Option(help="Canary percentage, 0..100.")] = None,
    sticky_key: Annotated[
        str | None, typer.Option(help="header:N | cookie:N | query:N | json:F | path:P")
    ] = None,
    fallback: Annotated[bool | None, typer.Option("--fallback/--no-fallback")] = None,
    timeout_s: Annotated[float | None, typer.Option("--timeout", help="Seconds.")] = None,
    shadow_sample: Annotated[
        float | None, typer.Option(help="Share mirrored in shadow mode, 0..1.")
    ] = None,
    noise_sample: Annotated[
        float | None, typer.Option(help="Share replayed on legacy, 0..1.")
    ] = None,
    dry_run: Annotated[
        bool | None,
        typer.Option(
            "--dry-run/--no-dry-run", help="The extracted side honours dry runs: mirror writes."
        ),
    ] = None,
    dry_run_wait: Annotated[
        float | None,
        typer.Option(help="Seconds a mirrored write waits for its dry run, at most."),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            help="A JSON path the comparison leaves out (repeat it; '' clears the list).",
        ),
    ] = None,
    unordered: Annotated[
        list[str] | None,
        typer.Option(help="A JSON path of a list compared in any order (repeat it; '' clears)."),
    ] = None,
    tolerance: Annotated[
        float | None, typer.Option(help="Numbers this close compare equal.")
    ] = None,
    discount_noise: Annotated[
        bool | None,
        typer.Option(
            "--discount-noise/--no-discount-noise",
            help="Leave paths where legacy differs from itself out of parity.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Move it even though its read model misses writes legacy still takes "
            "(the refusal says which); audited.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Change a route: `strangler routes set orders --mode canary --weight 25 --reason ramp`.

    Compare rules (`--ignore`, `--unordered`, `--tolerance`, `--discount-noise`) change
    only what is given; the rest of the route's rules stay."""
    group = ctx.command.name == "set-group"  # the same options, registered twice (below)
    given = {
        "mode": mode,
        "weight": weight,
        "sticky_key": sticky_key,
        "fallback": fallback,
        "timeout_s": timeout_s,
        "shadow_sample": shadow_sample,
        "noise_sample": noise_sample,
        "dry_run": dry_run,
        "dry_run_wait_s": dry_run_wait,
    }
    settings: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    rules = {
        "ignore": None if ignore is None else [path for path in ignore if path],
        "unordered": None if unordered is None else [path for path in unordered if path],
        "numeric_tolerance": tolerance,
        "discount_noise": discount_noise,
    }
    changed = {k: v for k, v in rules.items() if v is not None}
    if changed and group:
        # each member keeps rules of its own: one set of rules on all would replace them
        typer.secho(
            "error: compare rules are per route: `strangler routes set ROUTE --ignore ...`",
            err=True,
            fg="red",
        )
        raise typer.Exit(2)
    if changed:
        current = _call(ctx, "GET", f"/routes/{name}")
        settings["compare"] = {**current.get("compare", {}), **changed}
    if not settings:
        typer.secho("error: give at least one setting to change", err=True, fg="red")
        raise typer.Exit(2)
    body = {**settings, "reason": reason, **({"force": True} if force else {})}
    path = f"/groups/{name}" if group else f"/routes/{name}"
    _print_change(_call(ctx, "PATCH", path, body), as_json)


app.command(
    "set-group",
    help="Change every route of a group alike, in one table version and one audit entry: "
    "`strangler routes set-group checkout --mode canary --weight 25 --reason ramp`. "
    "Compare rules stay per route (`routes set`).",
)(set_route)


@app.command()
def groups(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The route groups (declared in the routes file) and their routes' mode and weight."""
    answer = _call(ctx, "GET", "/groups")
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    typer.echo(f"table version {answer['version']}")
    if not answer["groups"]:
        typer.echo("no route groups: the routes file declares them ([[groups]])")
    for group in answer["groups"]:
        key = group["sticky_key"] or "each route's own"
        typer.echo(f"{group['name']}  (sticky key: {key}; salt: {group['salt']})")
        for member in group["members"]:
            typer.echo(f"  {member['name']:<20} {member['mode']:<10} {member['weight']:>6g}")


@app.command()
def parity(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One route (default: every route).")] = None,
    window: Annotated[int, typer.Option(help="The recent window, seconds.", min=60)] = 300,
    as_json: JsonFlag = False,
) -> None:
    """Shadow parity per route: in total, over the recent window and at this table version."""
    query = f"/parity?window={window}" + (f"&route={name}" if name else "")
    answer = _call(ctx, "GET", query)
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    version = str(answer["table_version"])
    typer.echo(f"table version {version}; window {window} s")
    if not answer["routes"]:
        typer.echo("no shadow comparisons yet")
        return
    head = ("route", "compared", "parity", "window", "this table", "mismatch")
    more = ("late", "moved", "stale", "errors", "dropped")
    typer.echo(
        f"{head[0]:<20} {head[1]:>8} {head[2]:>7} {head[3]:>7} {head[4]:>10} {head[5]:>8} "
        + " ".join(f"{m:>7}" for m in more)
    )
    for route, f in answer["routes"].items():
        current = f["versions"].get(version, {})
        row = [f["match"] + f["mismatch"], _rate(f["parity"]), _rate(f["window"]["parity"])]
        typer.echo(
            f"{route:<20} {row[0]:>8} {row[1]:>7} {row[2]:>7} {_rate(current.get('parity')):>10} "
            f"{f['mismatch']:>8} "
            + " ".join(
                f"{f[k]:>7}" for k in ("late", "moved", "stale", "candidate_error", "dropped")
            )
        )
    for route, f in answer["routes"].items():
        if f["noise_discounted_paths"]:
            paths = ", ".join(f["noise_discounted_paths"])
            typer.echo(
                f"{route}: left out of parity as noise (legacy differs from itself there): {paths}"
                f"; {f['discounted']} matches discounted"
            )
        if f.get("dry_run_refused"):
            typer.echo(
                f"{route}: {f['dry_run_refused']} dry runs refused by the candidate: give it the "
                "gateway's STRANGLER_DRY_RUN_KEY"
            )
        if f.get("not_dry_run"):
            typer.echo(
                f"{route}: {f['not_dry_run']} dry runs NOT answered as dry runs: something between "
                "the gateway and the candidate drops X-Strangler-Shadow, and those writes may "
                "have been kept; stop mirroring writes (--no-dry-run) and check"
            )


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@app.command()
def mismatches(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The route.")],
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    as_json: JsonFlag = False,
) -> None:
    """The newest mismatch samples of a route, each with a readable diff."""
    samples = _call(ctx, "GET", f"/mismatches?route={name}&limit={limit}")["samples"]
    if as_json:
        typer.echo(json.dumps(samples, indent=2))
        return
    if not samples:
        typer.echo(f"no mismatch samples for {name}")
    for n, sample in enumerate(samples, 1):
        request = sample["request"]
        typer.echo(
            f"#{n} {sample.get('at', '')} table v{sample['table_version']} "
            f"{request['method']} {request['path']} (request {sample['request_id']})"
        )
        line = f"   legacy {sample['legacy']['status']}, extracted {sample['extracted']['status']}"
        if sample.get("placeholders"):
            line += f"; placeholders left out: {', '.join(sample['placeholders'])}"
        if "legacy_again" in sample:
            line += f"; legacy asked again: {sample['legacy_again']['status']}"
        if "extracted_fresh" in sample:
            line += f"; extracted asked to read anew: {sample['extracted_fresh']['status']}"
        typer.echo(line)
        for diff_line in sample["diff"].splitlines():
            typer.echo(f"   {diff_line}")


@app.command("reset-parity")
def reset_parity(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The route.")],
    reason: Reason,
    as_json: JsonFlag = False,
) -> None:
    """Start a route's parity afresh (audited; the entry keeps the figures set aside)."""
    _print_change(_call(ctx, "POST", f"/parity/{name}/reset", {"reason": reason}), as_json)


@app.command()
def kill(ctx: typer.Context, reason: Reason, as_json: JsonFlag = False) -> None:
    """Kill switch: every route to legacy in one change."""
    _print_change(_call(ctx, "POST", "/kill", {"reason": reason}), as_json)


@app.command()
def rollback(
    ctx: typer.Context,
    version: Annotated[int, typer.Argument(help="The table version to restore.")],
    reason: Reason,
    as_json: JsonFlag = False,
) -> None:
    """Restore the table as it was at VERSION (as a new version)."""
    _print_change(_call(ctx, "POST", "/rollback", {"version": version, "reason": reason}), as_json)


@app.command()
def audit(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """The newest audit entries, oldest first."""
    entries = _call(ctx, "GET", f"/audit?limit={limit}")["entries"]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        typer.echo(
            f"{entry['at']}  v{entry['version']:<4} {entry['actor']:<10} {entry['action']:<8} "
            f"{entry.get('route') or '-':<14} {entry['reason']}"
        )


def compare(
    ctx: typer.Context,
    method: Annotated[str, typer.Argument(help="GET, POST, ...")],
    path: Annotated[str, typer.Argument(help="Path and query, e.g. /users/7/orders?x=1")],
    body: Annotated[str | None, typer.Option("--json", help="A JSON request body.")] = None,
    header: Annotated[list[str] | None, typer.Option(help="Extra header NAME:VALUE.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Print the raw JSON result.")] = False,
) -> None:
    """Send one request to both targets of its route and print a readable diff.

    A write reaches the extracted side only as a dry run (and legacy for real)."""
    document: dict[str, Any] = {"method": method, "path": path}
    if body is not None:
        try:
            document["body"] = json.loads(body)
        except ValueError as exc:
            typer.secho(f"error: --json is not valid JSON: {exc}", err=True, fg="red")
            raise typer.Exit(2) from exc
    if header:
        pairs = [h.split(":", 1) for h in header]
        if any(len(p) != 2 for p in pairs):
            typer.secho("error: --header takes NAME:VALUE", err=True, fg="red")
            raise typer.Exit(2)
        document["headers"] = {k.strip(): v.strip() for k, v in pairs}
    result = _call(ctx, "POST", "/compare", document)
    if raw:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(
            f"route {result['route']}: legacy {result['legacy']['status']}, "
            f"extracted {result['extracted']['status']}"
        )
        typer.echo("identical" if result["match"] else result["diff"])
    if not result["match"]:
        raise typer.Exit(1)
