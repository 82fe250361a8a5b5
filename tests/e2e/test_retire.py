"""`strangler retire legacy` and `strangler unretire legacy` on a whole stack, as an operator
types them: refused while a route still sends to legacy; once every route is cut over,
audited, legacy stopped and the gateway still answering; and legacy back on command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import route_everything
from tests.e2e.shop import started_shop

pytestmark = pytest.mark.e2e

RETIRE = ("retire", "legacy", "--quiet-minutes", "1")


def said(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


def test_legacy_is_retired_only_once_nothing_reaches_it_and_comes_back_on_command(
    tmp_path: Path,
) -> None:
    with started_shop(tmp_path / "stack") as shop:
        out = said(shop.cli(*RETIRE, "--reason", "too soon"), 1)
        assert "FAIL routes: 5 of 9 routes can send to legacy" in out
        assert "route 'users' is in legacy mode" in out
        assert "ok   default route: 0 of 22 legacy endpoints fall to the default route" in out
        assert "legacy" in shop.stack.pids()

        route_everything(shop.settings, "extracted", fallback=False)
        out = said(shop.cli(*RETIRE, "--reason", "every domain is extracted"), 0)
        assert "ok   routes: 0 of 9 routes can send to legacy" in out
        assert "ok   no legacy writes: legacy answered 0 requests in the last 1 min" in out
        assert "ok   capture drained: read models behind by:" in out
        assert "retire legacy by" in out and "legacy: stopped" in out
        assert "legacy" not in shop.stack.pids()
        entry = shop.admin.get("/audit").json()["entries"][-1]
        assert (entry["action"], entry["reason"]) == ("retire", "every domain is extracted")

        signed_up = shop.public.post("/users", json={"email": "ada@retired.test", "name": "Ada"})
        assert signed_up.status_code == 201, signed_up.text  # the users service
        unmatched = shop.public.get("/no-such-page")
        assert unmatched.status_code == 404
        assert unmatched.json()["type"].endswith("legacy-retired")
        killed = shop.admin.post("/kill", json={"reason": "panic"})
        assert killed.status_code == 409 and "unretire legacy" in killed.json()["detail"]
        again = said(shop.cli(*RETIRE, "--reason", "twice"), 0)
        assert again.startswith("legacy is retired already")
        up = said(shop.cli("up"), 0)  # a restart of the stack leaves it down
        assert "legacy: retired (`strangler unretire legacy` starts it)" in up
        assert "legacy" not in shop.stack.pids()

        out = said(shop.cli("unretire", "legacy", "--reason", "contract postponed"), 0)
        assert "ok   schema serves legacy: no contract step has run" in out
        assert "unretire legacy by" in out and "legacy" in shop.stack.pids()
        assert shop.admin.get("/audit").json()["entries"][-1]["action"] == "unretire"
        back = shop.public.get("/no-such-page")  # legacy's own 404 again
        assert back.status_code == 404 and "legacy-retired" not in back.text
        assert shop.admin.post("/kill", json={"reason": "drill"}).status_code == 200
