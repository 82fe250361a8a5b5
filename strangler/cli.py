"""The kit's one command line: `strangler up|down|status|seed|demo|routes|compare|migrate|jobs|
analytics|retire|unretire`."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from redis import Redis
from redis.exceptions import RedisError

from new_services.outbox_relay import lag as consumer_lag
from strangler import (
    analytics_cli,
    jobs_cli,
    migrate_cli,
    private,
    retire_cli,
    rollout_cli,
    routes_cli,
)
from strangler import demo as demo_walk
from strangler.runner import RunnerError, Stack, status_json
from strangler.settings import Settings, SettingsError

app = typer.Typer(
    help="Strangler kit: run the stack and migrate it route by route.",
    no_args_is_help=True,
    add_completion=False,
)


def _settings(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@app.callback()
def main(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(help="Data folder (env STRANGLER_HOME).")] = None,
    port_base: Annotated[
        int | None, typer.Option(help="First port (env STRANGLER_PORT_BASE).")
    ] = None,
) -> None:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if home is not None:
        settings = replace(settings, home=home.resolve())
    if port_base is not None:
        settings = replace(settings, port_base=port_base)
    ctx.obj = settings


@app.command()
def up(
    ctx: typer.Context,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Then stay in the foreground and start again any part that dies (Ctrl-C "
            "stops watching; the stack stays up).",
        ),
    ] = False,
) -> None:
    """Bring the database to the expanded schema, then start every part on 127.0.0.1 and
    wait until each is healthy (services that need the schema wait for an adoption).
    Run again, it starts what is not running (a part whose process died included, after
    stopping what that process left) and waits for the rest to be healthy."""
    stack = Stack(_settings(ctx), say=typer.echo)
    try:
        statuses = stack.up()
    except RunnerError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(1) from exc
    unhealthy = [s.name for s in statuses if not s.healthy and s.name not in stack.skipped]
    if unhealthy:
        typer.secho(f"error: not healthy: {', '.join(unhealthy)}", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo("the stack is up:")
    for status in statuses:
        note = "  (left down: see above)" if status.name in stack.skipped else ""
        typer.echo(f"  {status.name:<16} {status.url}{note}")
    _print_entry_points(_settings(ctx))
    typer.echo(f"logs in {_settings(ctx).log_dir}; stop with `strangler down`")
    if watch:
        _watch(stack)


def _watch(stack: Stack) -> None:
    stopping = threading.Event()
    # both, explicitly: a process started in the background by a shell ignores SIGINT
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stopping.set())
    typer.echo("watching: a part that dies is started again (Ctrl-C stops watching)")
    stack.watch(keep_on=lambda: not stopping.is_set())
    typer.echo("stopped watching; the stack is still up")


def _print_entry_points(settings: Settings) -> None:
    typer.echo(f"clients talk to the shop through the gateway: {settings.url('gateway')}")
    typer.echo(
        f"gateway admin API: {settings.url('gateway-admin')} "
        f"(token: GATEWAY_ADMIN_TOKEN, else {settings.home / 'gateway-admin.token'})"
    )


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop every part the runner started, children included."""
    stopped = Stack(_settings(ctx), say=typer.echo).down()
    typer.echo("nothing was running" if not stopped else "the stack is down")


def read_models_line(settings: Settings) -> str:
    """How far behind each consumer of the outbox is (new_services/outbox_relay/lag.py)."""
    try:
        with Redis.from_url(settings.shop_redis_url, socket_timeout=2) as redis:
            lags = consumer_lag.read(redis, settings.namespace)
    except (RedisError, OSError):
        return "read models: lag unknown (Redis does not answer)"
    if lags is None:
        return "read models: lag unknown (the outbox relay is not running)"
    shown = ", ".join(
        f"{name} {lag.seconds:.1f} s" + (f" ({lag.failed} parked)" if lag.failed else "")
        for name, lag in sorted(lags.items())
    )
    return f"read models behind by: {shown}"


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Each part's name, URL, pid and health; exit code 1 if any part is down."""
    settings = _settings(ctx)
    statuses = Stack(settings).status()
    if as_json:
        typer.echo(status_json(statuses))
    else:
        for s in statuses:
            state = "healthy" if s.healthy else ("running, unhealthy" if s.running else "stopped")
            typer.echo(f"{s.name:<9} {s.url:<28} pid {s.pid or '-':<8} {state}")
        typer.echo(read_models_line(settings))
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@app.command()
def seed(
    ctx: typer.Context,
    orders: Annotated[int, typer.Option(min=0, help="Orders to create.")] = 50,
    users: Annotated[int, typer.Option(min=1, help="Users to create.")] = 20,
    products: Annotated[int, typer.Option(min=1, help="Products to create.")] = 30,
    seed_value: Annotated[
        int, typer.Option("--seed", help="Random seed: same seed, same rows.")
    ] = 42,
    reset: Annotated[bool, typer.Option(help="Drop and recreate the shop's tables first.")] = False,
    as_legacy: Annotated[
        bool,
        typer.Option(
            "--as-legacy",
            help="Make the tables as the legacy app does (no migration history), like a "
            "production database before the migration starts (playbook 01).",
        ),
    ] = False,
) -> None:
    """Fill the shop's database deterministically (writes to DATABASE_URL or the SQLite file).
    An empty database gets the migrated schema first, unless --as-legacy."""
    from migrations import history
    from migrations.database import make_engine
    from strangler import seed as seeding

    settings = _settings(ctx)
    settings.home.mkdir(parents=True, exist_ok=True)
    private.private_sqlite_file(settings.shop_database_url)
    engine = make_engine(settings.shop_database_url)
    started = time.perf_counter()
    try:
        if reset:
            seeding.drop_everything(engine)
        with engine.connect() as conn:
            empty = not history.legacy_tables_present(conn) and history.current(conn) is None
        if empty and not as_legacy:
            history.upgrade(engine, "expand")
        report = seeding.seed(
            engine,
            seeding.SeedSizes(users=users, products=products, orders=orders),
            seed_value=seed_value,
        )
    except seeding.ShopNotEmptyError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"seeded {report.users} users, {report.products} products, {report.orders} orders, "
        f"{report.order_items} order lines (revenue {report.revenue_cents} c) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    typer.echo(
        "restart the shop (`strangler down && strangler up`) so its product cache sees the rows"
    )


@app.command()
def demo(ctx: typer.Context) -> None:
    """Walk through the running shop: user, cart, checkout, then the charge and the e-mail."""
    settings = _settings(ctx)
    stack = Stack(settings)
    walked = {"gateway", "legacy", "payments", "mail"}  # what the walk talks to
    if not all(s.healthy for s in stack.status() if s.name in walked):
        typer.secho("error: the stack is not up; run `strangler up` first", err=True, fg="red")
        raise typer.Exit(1)
    try:
        demo_walk.walk(
            settings.url("gateway"), settings.url("payments"), settings.url("mail"), typer.echo
        )
    except RuntimeError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(1) from exc
    typer.echo("\nthe stack stays up:")
    for name, url in stack.urls().items():
        typer.echo(f"  {name:<16} {url}")
    _print_entry_points(settings)
    typer.echo(f"  {'e-mails':<16} {settings.url('mail')}/messages")
    typer.echo(f"  {'charges':<16} {settings.url('payments')}/v1/charges")
    typer.echo("stop it with `.venv/bin/strangler down`")


app.add_typer(routes_cli.app, name="routes")
app.add_typer(rollout_cli.app, name="rollout")
app.add_typer(migrate_cli.app, name="migrate")
app.add_typer(jobs_cli.app, name="jobs")
app.add_typer(analytics_cli.app, name="analytics")
app.command("compare")(routes_cli.compare)
app.command("retire")(retire_cli.retire)
app.command("unretire")(retire_cli.unretire)
