"""`strangler routes ...`: operate the gateway's route table through its admin API."""

from __future__ import annotations

import json
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
    typer.echo(f"{'default':<16} {'legacy':<10} {'':>6}  everything else")


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
    as_json: JsonFlag = False,
) -> None:
    """Change a route: `strangler routes set orders --mode canary --weight 25 --reason ramp`."""
    given = {
        "mode": mode,
        "weight": weight,
        "sticky_key": sticky_key,
        "fallback": fallback,
        "timeout_s": timeout_s,
        "shadow_sample": shadow_sample,
        "noise_sample": noise_sample,
        "dry_run": dry_run,
    }
    settings = {k: v for k, v in given.items() if v is not None}
    if not settings:
        typer.secho("error: give at least one setting to change", err=True, fg="red")
        raise typer.Exit(2)
    _print_change(_call(ctx, "PATCH", f"/routes/{name}", {**settings, "reason": reason}), as_json)


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
