"""Drive the Alembic history from Python: adopt, upgrade, downgrade, and what a step costs.

`strangler migrate` is a thin shell over these; tests call them directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, MetaData, inspect

from migrations.preconditions import RouteSource

HERE = Path(__file__).resolve().parent
BASELINE = "0001_baseline"
VERSION_TABLE = "alembic_version"


class HistoryError(RuntimeError):
    """The database is not in a state the requested step can start from."""


@dataclass(frozen=True)
class Step:
    """One revision on the way to a target, and the data it would lose."""

    revision: str
    summary: str
    loses: str | None


def config(connection: Connection | None = None, routes: RouteSource | None = None) -> Config:
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    if routes is not None:
        cfg.attributes["route_table"] = routes
    return cfg


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    found = scripts().get_current_head()
    assert found is not None
    return found


def expand_head() -> str:
    """The newest revision before the first contract step: as far as the schema can go
    while the legacy app still serves every route."""
    last = BASELINE
    for script in reversed(list(scripts().walk_revisions())):
        if getattr(script.module, "PHASE", None) == "contract":
            break
        last = script.revision
    return last


def resolve(target: str) -> str:
    """A revision id, or "expand" for `expand_head()`."""
    return expand_head() if target == "expand" else target


def _summary(script: Script) -> str:
    return (script.doc or "").strip().splitlines()[0] if script.doc else script.revision


def _lineage(revision: str | None) -> list[str]:
    """`revision` and every revision below it, newest first (empty for base)."""
    if revision is None:
        return []
    return [s.revision for s in scripts().iterate_revisions(revision, "base")]


def _known(target: str) -> str:
    target = resolve(target)
    if target in ("head", "base"):
        return target
    try:
        script = scripts().get_revision(target)
    except CommandError as exc:
        raise HistoryError(
            f"no revision {target!r}: `strangler migrate status` lists them"
        ) from exc
    if script is None:
        raise HistoryError(f"no revision {target!r}: `strangler migrate status` lists them")
    return script.revision


def plan(conn: Connection, target: str, downgrade: bool = False) -> list[Step]:
    """The revisions an upgrade (or downgrade) to `target` would run, in order; empty when
    there is nothing to do (an upgrade to a revision the database is already past, too)."""
    target = _known(target)
    here = current(conn)
    if here is None and not downgrade and legacy_tables_present(conn):
        raise HistoryError(
            "the database holds the legacy app's tables but no migration version: "
            "run `strangler migrate adopt` first"
        )
    below_here = _lineage(here)
    directory = scripts()
    if downgrade:
        if target == "head" or (target != "base" and target not in below_here):
            raise HistoryError(
                f"cannot downgrade to {target}: the database is at {here or 'base'}, below it"
            )
        walked: Sequence[Script] = (
            [s for s in directory.iterate_revisions(here or "base", target) if s.revision != target]
            if here
            else []
        )
        attribute = "LOSES_ON_DOWNGRADE"
    else:
        if target in below_here:
            return []  # already there, or past it (`upgrade expand` after a contract step)
        walked = list(reversed(list(directory.iterate_revisions(target, here or "base"))))
        walked = [s for s in walked if s.revision != here]
        attribute = "LOSES_ON_UPGRADE"
    return [Step(s.revision, _summary(s), getattr(s.module, attribute, None)) for s in walked]


def applied_contract_steps(conn: Connection) -> list[Step]:
    """The contract steps the database has run, oldest first, each with what it removed
    (its LOSES_ON_UPGRADE): after one of them the legacy app no longer works on it."""
    here = current(conn)
    if here is None:
        return []
    found = []
    for script in scripts().iterate_revisions(here, "base"):
        if getattr(script.module, "PHASE", None) == "contract":
            loses = getattr(script.module, "LOSES_ON_UPGRADE", None)
            found.append(Step(script.revision, _summary(script), loses))
    return list(reversed(found))


def legacy_tables_present(conn: Connection) -> bool:
    return "orders" in inspect(conn).get_table_names()


def baseline_metadata() -> MetaData:
    module: Any = scripts().get_revision(BASELINE).module
    metadata: MetaData = module.legacy_metadata()
    return metadata


def schema_differences(conn: Connection, metadata: MetaData) -> list[Any]:
    """Alembic's autogenerate comparison of the database against `metadata` (empty: equal)."""
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return [
        diff
        for diff in compare_metadata(context, metadata)
        if not (diff[0] == "remove_table" and diff[1].name == VERSION_TABLE)
    ]


def adopt(engine: Engine) -> None:
    """Stamp a database the legacy app created at the baseline, once its schema is proven
    to be exactly the baseline's."""
    with engine.connect() as conn:
        if current(conn) is not None:
            raise HistoryError(f"the database is already at revision {current(conn)}")
        if not legacy_tables_present(conn):
            raise HistoryError(
                "the database has no shop tables to adopt: `strangler migrate upgrade` creates them"
            )
        differences = schema_differences(conn, baseline_metadata())
        if differences:
            listed = "\n".join(f"  - {d}" for d in differences)
            raise HistoryError(
                "the schema differs from the baseline, so stamping it would be a lie; "
                f"reconcile these first:\n{listed}"
            )
        conn.rollback()
        command.stamp(config(conn), BASELINE)
        conn.commit()


def upgrade(engine: Engine, target: str = "head", routes: RouteSource | None = None) -> None:
    with engine.connect() as conn:
        if not plan(conn, target):  # also refuses a database the app made but nobody adopted
            return
        conn.rollback()  # Alembic must own the transactions, or it cannot step outside them
        command.upgrade(config(conn, routes), _known(target))
        conn.commit()


def downgrade(engine: Engine, target: str) -> None:
    with engine.connect() as conn:
        if not plan(conn, target, downgrade=True):
            return
        conn.rollback()
        command.downgrade(config(conn), _known(target))
        conn.commit()


def failed_preconditions(
    conn: Connection, target: str, routes: RouteSource
) -> dict[str, list[str]]:
    """For each pending step up to `target` that has preconditions, those that fail."""
    failures = {}
    directory = scripts()
    steps = plan(conn, target)
    for position, step in enumerate(steps):
        module: Any = directory.get_revision(step.revision).module
        checker = getattr(module, "check", None)
        if checker is None:
            if getattr(module, "PHASE", None) == "contract":  # destructive, and unguarded
                failures[step.revision] = ["a contract step must define check(); this one does not"]
                break
            continue
        if position > 0:  # its checks read columns and tables the earlier steps create
            failures[step.revision] = [
                f"its preconditions can be checked once {steps[position - 1].revision} has "
                "run (upgrade to it, run the backfill, then check again)"
            ]
            break
        reasons = checker(conn, routes)
        if reasons:
            failures[step.revision] = reasons
    return failures
