"""README's table of parts and its row of port variables, written from strangler/registry.py
(`python3 dev.py docs`; tests/unit/test_docs.py fails while README.md is out of date)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from strangler.registry import PARTS, Entry, Kind, port_offsets

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- parts: written by `python3 dev.py docs` from strangler/registry.py -->"
END = "<!-- /parts -->"
PORT_ROW = re.compile(r"^\| `STRANGLER_<PORT>_PORT` \|.*$", re.MULTILINE)
BASE, NAMESPACE = 8000, "strangler"  # the defaults, as the README shows them


class StaleReadme(ValueError):
    """README.md lacks a place the tables go."""


def _runs(entry: Entry) -> str:
    if entry.kind in (Kind.STAND_IN, Kind.SERVICE):
        return f"uvicorn `{entry.runs}`"
    if entry.kind is Kind.LEGACY:
        return f"gunicorn `{entry.runs}`"
    if entry.kind is Kind.REDIS:
        return f"`{entry.runs}`"
    return f"`python -m {entry.runs}`"


def _healthy_when(entry: Entry) -> str:
    health = entry.health
    if health.check == "http":
        elsewhere = entry.ports and health.on != entry.ports[0].name
        return "`GET /healthz`" + (f" on `{health.on}`" if elsewhere else "")
    if health.check == "queue":
        return f"a worker heartbeats on queue `{NAMESPACE}-{health.on}`"
    if health.check == "heartbeat":
        return f"key `{NAMESPACE}:{health.on}` exists"
    return "answers `PING`"


def parts_table(parts: Sequence[Entry]) -> str:
    rows = [
        f"| part | runs | ports (base {BASE}) | healthy when | gateway upstream "
        "| needs the migrated schema | what it is |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in parts:
        ports = ", ".join(f"`{port.name}` {BASE + port.offset}" for port in entry.ports)
        upstream = f"`{entry.upstream}`" if entry.upstream else ""
        rows.append(
            f"| {entry.name} | {_runs(entry)} | {ports} | {_healthy_when(entry)} "
            f"| {upstream} | {'yes' if entry.needs_schema else ''} | {entry.about} |"
        )
    return "\n".join(rows)


def port_row(parts: Sequence[Entry]) -> str:
    names = ", ".join(f"`{name.upper().replace('-', '_')}`" for name in port_offsets(parts))
    meaning = f"one port, by its name in the parts table: {names}"
    return f"| `STRANGLER_<PORT>_PORT` | base + offset | {meaning} |"


def render(readme: str, parts: Sequence[Entry] = PARTS) -> str:
    """`readme` with its parts table and port row made from `parts`."""
    head, begin, rest = readme.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise StaleReadme(f"README.md has no {BEGIN} ... {END} for the parts table")
    if not PORT_ROW.search(tail):
        raise StaleReadme("README.md has no `STRANGLER_<PORT>_PORT` row after the parts table")
    tail = PORT_ROW.sub(lambda _: port_row(parts), tail, count=1)
    return f"{head}{BEGIN}\n{parts_table(parts)}\n{END}{tail}"


def main() -> None:
    text = README.read_text()
    made = render(text)
    if made == text:
        print(f"{README.name} is up to date")
        return
    README.write_text(made)
    print(f"wrote the parts table and port row of {README}")


if __name__ == "__main__":
    main()
