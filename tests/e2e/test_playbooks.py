"""Every command in every playbook runs, in order, against a real stack, and does what
the playbook says: exit 0, or the code its `# exits N` comment promises, and the output
its `shows "..."` comment quotes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import free_port_base

pytestmark = pytest.mark.e2e

PLAYBOOKS = sorted((Path(__file__).parents[2] / "playbooks").glob("[0-9]*.md"))
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXITS = re.compile(r"exits (\d+)")
SHOWS = re.compile(r'shows "([^"]+)"')


def commands(playbook: Path) -> list[tuple[str, int, list[str]]]:
    """(command, expected exit code, texts its output must contain) for each line of each
    ```sh block; a comment says `exits N` and `shows "text"` where it matters."""
    found = []
    for block in BLOCK.findall(playbook.read_text()):
        for line in block.splitlines():
            command, _, comment = line.partition("#")
            if command.strip():
                expected = EXITS.search(comment)
                found.append(
                    (
                        command.strip(),
                        int(expected.group(1)) if expected else 0,
                        SHOWS.findall(comment),
                    )
                )
    return found


def test_there_is_a_playbook_and_each_has_commands() -> None:
    assert PLAYBOOKS
    for playbook in PLAYBOOKS:
        assert len(commands(playbook)) >= 5, playbook.name


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.stem)
def test_every_command_of_the_playbook_does_what_it_says(
    playbook: Path, tmp_path: Path, new_database: Callable[[], str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRANGLER_")}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "STRANGLER_HOME": str(tmp_path / "home"),
        "STRANGLER_PORT_BASE": str(free_port_base()),
        "STRANGLER_NAMESPACE": f"playbook-{uuid.uuid4().hex[:12]}",
    }
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = new_database()  # the playbook seeds, so an empty one
    transcript: list[str] = []
    try:
        for command, expected, shown in commands(playbook):
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            transcript.append(f"$ {command}  (exit {done.returncode})\n{done.stdout}{done.stderr}")
            assert done.returncode == expected, "\n".join(transcript)
            for text in shown:
                assert text in done.stdout + done.stderr, "\n".join(transcript)
    finally:
        subprocess.run(
            ["strangler", "down"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
