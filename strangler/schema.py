"""Before the stack starts: bring the shop's database to the expanded schema the services need.

An empty database gets the baseline and every expand step; a migrated one is brought up
to the newest expand step. A contract step never runs here (it is an operator's decision,
playbooks/01-migrate-the-schema.md), and neither does adoption: a database the legacy app
made for itself stays as it is, and the services that need the new schema stay down
until someone runs `strangler migrate adopt`.
"""

from __future__ import annotations

from collections.abc import Callable

from migrations import history
from migrations.database import make_engine
from strangler import private
from strangler.settings import Settings


def prepare(settings: Settings, say: Callable[[str], None]) -> bool:
    """True when the database is at the expanded schema (or past it) and services may run."""
    settings.home.mkdir(parents=True, exist_ok=True)
    private.private_sqlite_file(settings.shop_database_url)  # 0600, also if made readable
    engine = make_engine(settings.shop_database_url)
    try:
        with engine.connect() as conn:
            adopted = history.current(conn) is not None
            made_by_the_app = not adopted and history.legacy_tables_present(conn)
            steps = [] if made_by_the_app else history.plan(conn, "expand")
        if made_by_the_app:
            say(
                "schema: made by the legacy app and not adopted; the extracted services stay "
                "down (`strangler migrate adopt`, `strangler migrate upgrade expand`, then "
                "`strangler up` again)"
            )
            return False
        if steps:
            say(f"schema: migrating to {steps[-1].revision} ({len(steps)} step(s))")
            history.upgrade(engine, "expand")
        return True
    finally:
        engine.dispose()
