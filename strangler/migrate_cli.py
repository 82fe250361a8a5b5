"""`strangler migrate ...`: move the shop's schema through expand, backfill and contract."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, ParamSpec

import typer
from alembic.util import CommandError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from migrations import backfill as backfilling
from migrations import history
from migrations.database import make_engine
from migrations.fingerprint import differences as fingerprint_differences
from migrations.fingerprint import fingerprint as data_fingerprint
from migrations.fingerprint import uuid_coverage
from migrations.preconditions import PreconditionFailed, RouteSource, live_route_table
from strangler import private
from strangler.settings import Settings

P = ParamSpec("P")

app = typer.Typer(
    help="Migrate the shop's schema: adopt, upgrade (expand, contract), backfill, check.",
    no_args_is_help=True,
)

Yes = Annotated[
    bool, typer.Option("--yes", help="Confirm steps that lose data (needed without a terminal).")
]


def _settings(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@contextmanager
def _engine(ctx: typer.Context) -> Iterator[Engine]:
    settings = _settings(ctx)
    settings.home.mkdir(parents=True, exist_ok=True)
    private.private_sqlite_file(settings.shop_database_url)
    engine = make_engine(settings.shop_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _routes(ctx: typer.Context) -> RouteSource:
    settings = _settings(ctx)
    return lambda: live_route_table(settings.shop_redis_url, f"{settings.namespace}:gateway")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg="red")
    return typer.Exit(code)


def _explained(command: Callable[P, None]) -> Callable[P, None]:
    """Turn the errors an operator can act on into one clear line instead of a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except typer.Exit:  # click's Exit is a RuntimeError too: let it through untouched
            raise
        # HistoryError, PreconditionFailed and "gave up after lock timeouts" are RuntimeErrors
        except (RuntimeError, CommandError, LookupError) as exc:
            raise _fail(str(exc)) from exc
        except (OperationalError, ProgrammingError) as exc:
            raise _fail(f"the database refused: {exc.orig}") from exc

    return run


def _confirm(steps: Sequence[history.Step], yes: bool) -> None:
    losing = [s for s in steps if s.loses]
    if not losing or yes:
        return
    typer.echo("these steps lose data:")
    for step in losing:
        typer.echo(f"  {step.revision}: {step.loses}")
    if not sys.stdin.isatty():
        raise _fail("no terminal to confirm on: run again with --yes to go ahead", 2)
    if not typer.confirm("go on?"):
        raise typer.Exit(1)


def _print_steps(steps: Sequence[history.Step], verb: str) -> None:
    if not steps:
        typer.echo(f"nothing to {verb}")
    for step in steps:
        typer.echo(f"{verb} {step.revision}: {step.summary}")


@app.command()
@_explained
def status(ctx: typer.Context) -> None:
    """The database's revision, the steps still to run, and the backfill's progress."""
    with _engine(ctx) as engine, engine.connect() as conn:
        current = history.current(conn)
        has_tables = history.legacy_tables_present(conn)
        pending = history.plan(conn, "head") if current or not has_tables else []
    label = current or ("none: the legacy app's own tables, not adopted" if has_tables else "none")
    typer.echo(f"revision: {label} (head: {history.head()})")
    for step in pending:
        typer.echo(f"  to run: {step.revision}: {step.summary}")
    try:
        plans = backfilling.plan(engine)
    except LookupError:
        return
    for plan in plans:
        if plan.done:
            state = "finished: every row has its uuid"
        else:
            state = (
                f"not finished: {plan.missing} row(s) without a uuid, "
                f"checkpoint at id {plan.resume_after_id}"
            )
        typer.echo(f"backfill {plan.step}: {state}")


@app.command()
@_explained
def adopt(ctx: typer.Context) -> None:
    """Stamp a database the legacy app created at the baseline, after proving its schema
    is exactly the baseline's."""
    with _engine(ctx) as engine:
        history.adopt(engine)
    typer.echo(f"adopted: the database is at {history.BASELINE}")


@app.command()
@_explained
def upgrade(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="Revision to reach; 'expand': the last step before a contract.")
    ] = "head",
    yes: Yes = False,
) -> None:
    """Run the revisions up to TARGET (expand steps, then contract steps)."""
    with _engine(ctx) as engine:
        with engine.connect() as conn:
            steps = history.plan(conn, target)
            refusals = history.failed_preconditions(conn, target, _routes(ctx))
        if steps and steps[0].revision in refusals:  # the next step would refuse: say so now
            raise _fail(str(PreconditionFailed(steps[0].revision, refusals[steps[0].revision])))
        _confirm(steps, yes)
        _print_steps(steps, "upgrade")
        history.upgrade(engine, target, routes=_routes(ctx))
        with engine.connect() as conn:
            typer.echo(f"the database is at {history.current(conn)}")


@app.command()
@_explained
def downgrade(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Revision to go back to ('base': nothing).")],
    yes: Yes = False,
) -> None:
    """Undo the revisions above TARGET, newest first."""
    with _engine(ctx) as engine:
        with engine.connect() as conn:
            steps = history.plan(conn, target, downgrade=True)
        _confirm(steps, yes)
        _print_steps(steps, "downgrade")
        history.downgrade(engine, target)
        with engine.connect() as conn:
            typer.echo(f"the database is at {history.current(conn) or 'base (empty)'}")


@app.command()
@_explained
def check(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Revision to reach.")] = "head",
) -> None:
    """Say whether the preconditions of every pending step up to TARGET hold (exit 1 if not)."""
    with _engine(ctx) as engine, engine.connect() as conn:
        failures = history.failed_preconditions(conn, target, _routes(ctx))
    if not failures:
        typer.echo(f"every precondition up to {target} holds")
        return
    for revision, reasons in failures.items():
        typer.echo(f"{revision} would refuse to run:")
        for reason in reasons:
            typer.echo(f"  - {reason}")
    raise typer.Exit(1)


@app.command()
@_explained
def backfill(
    ctx: typer.Context,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per batch.")] = 1000,
    pause_ms: Annotated[
        int, typer.Option(min=0, help="Sleep between batches, to spare a busy database.")
    ] = 0,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Fill the UUIDs of rows older than the expand step, in batches; safe to kill and rerun."""
    started = time.perf_counter()
    with _engine(ctx) as engine:
        plans = backfilling.plan(engine)
        reports = []
        for plan in plans:
            with typer.progressbar(
                length=plan.rows_left, label=f"{plan.step:<18}", file=sys.stderr, hidden=quiet
            ) as bar:
                reports.append(
                    backfilling.run_step(
                        engine,
                        plan,
                        batch_size=batch_size,
                        pause_s=pause_ms / 1000,
                        progress=lambda _step, rows: bar.update(rows),
                    )
                )
    for report, plan in zip(reports, plans, strict=True):
        if plan.done:
            typer.echo(f"{report.step:<18} already finished: nothing to fill")
            continue
        start = (
            f"resumed after id {report.resumed_after_id}"
            if report.resumed_after_id
            else "from the start"
        )
        rate = report.rows_scanned / report.seconds if report.seconds else 0
        typer.echo(
            f"{report.step:<18} {start}: scanned {report.rows_scanned}, filled "
            f"{report.rows_filled} in {report.batches} batch(es), {report.seconds:.2f} s "
            f"({rate:,.0f} rows/s)"
        )
    total = sum(r.rows_filled for r in reports)
    typer.echo(f"backfill finished: {total} row(s) filled in {time.perf_counter() - started:.1f} s")


@app.command()
@_explained
def fingerprint(
    ctx: typer.Context,
    exclude: Annotated[
        list[str] | None,
        typer.Option(help="table.column to leave out (a column a step drops on purpose)."),
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(help="A fingerprint saved earlier: compare the data, exit 1 if it differs."),
    ] = None,
) -> None:
    """Print the data fingerprint (counts, sums, hashes) and UUID coverage as JSON, or
    compare the data with a fingerprint saved before a step."""
    with _engine(ctx) as engine, engine.connect() as conn:
        data = data_fingerprint(conn, exclude=exclude or ())
        coverage = uuid_coverage(conn)
    if against is None:
        typer.echo(json.dumps({"data": data, "uuids": coverage}, indent=2, sort_keys=True))
        return
    try:
        saved = json.loads(against.read_text())["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _fail(f"{against} is not a saved fingerprint: {exc}") from exc
    for name in exclude or ():
        table, _, column = name.partition(".")
        saved.get(table, {}).get("columns", {}).pop(column, None)
    differing = fingerprint_differences(saved, data)
    for line in differing:
        typer.echo(f"differs: {line}")
    if differing:
        raise typer.Exit(1)
    typer.echo(f"the data is the same as in {against}")
