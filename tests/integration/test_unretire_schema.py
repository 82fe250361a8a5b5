"""`strangler unretire legacy` brings legacy back only while the schema still serves it:
after a contract step it refuses, saying which step removed what and how to go back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from migrations import history
from tests.integration.migrating import engine_at, routes_table, run_backfill, seeded

STRANGLER = str(Path(sys.executable).with_name("strangler"))
EXPAND = "0005g_product_generation"  # the expand head


def test_unretire_refuses_after_a_contract_step_naming_what_it_removed(
    fresh_database_url: str, tmp_path: Path
) -> None:
    seeded(fresh_database_url, orders=5)
    with engine_at(fresh_database_url) as engine:
        history.adopt(engine)
        history.upgrade(engine, "expand")
        with engine.connect() as conn:
            assert history.applied_contract_steps(conn) == []  # legacy could come back here
    run_backfill(fresh_database_url)
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "head", routes=lambda: routes_table())
        with engine.connect() as conn:
            steps = history.applied_contract_steps(conn)
    assert [step.revision for step in steps] == ["0006_contract_orders"]

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STRANGLER_")},
        "DATABASE_URL": fresh_database_url,
        "STRANGLER_HOME": str(tmp_path / "home"),
    }
    done = subprocess.run(
        [STRANGLER, "unretire", "legacy", "--reason", "the services misbehave"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "FAIL schema serves legacy: 0006_contract_orders removed orders.email_sent" in (
        done.stdout
    )
    assert f"`strangler migrate downgrade {EXPAND}`" in done.stdout
    assert "legacy cannot come back on this schema" in done.stderr
