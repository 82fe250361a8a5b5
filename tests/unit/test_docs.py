"""The READMEs say what strangler/registry.py declares: the parts, their ports, their offsets."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from strangler import docs
from strangler.registry import PARTS, Kind, Port

ROOT = Path(__file__).resolve().parents[2]


def test_readmes_parts_table_and_port_row_are_the_registrys() -> None:
    text = (ROOT / "README.md").read_text()
    assert docs.render(text) == text, (
        "README.md's parts table or STRANGLER_<PORT>_PORT row differs from "
        "strangler/registry.py: run `python3 dev.py docs`"
    )


def test_a_new_entry_gets_its_row_and_its_port_variable() -> None:
    orders = next(e for e in PARTS if e.name == "orders")
    reviews = replace(
        orders,
        name="reviews",
        runs="new_services.reviews.app:create_app",
        about="the extracted reviews service",
        ports=(Port("reviews", 15),),
        upstream="reviews",
    )
    text = docs.render((ROOT / "README.md").read_text(), [*PARTS, reviews])
    row = next(line for line in text.splitlines() if line.startswith("| reviews |"))
    assert "`new_services.reviews.app:create_app`" in row and "`reviews` 8015" in row
    assert "| `reviews` | yes | the extracted reviews service |" in row
    port_row = next(line for line in text.splitlines() if "`STRANGLER_<PORT>_PORT`" in line)
    assert port_row.rstrip(" |").endswith("`USERS`, `REVIEWS`")


def test_new_services_readme_gives_each_services_port_offset() -> None:
    text = (ROOT / "new_services" / "README.md").read_text()
    said = {m[1]: int(m[2]) for m in re.finditer(r"`([\w.]+:create_app)`, \+ (\d+)", text)}
    for entry in PARTS:
        if entry.kind is Kind.SERVICE:
            assert said.get(entry.runs) == entry.ports[0].offset, (
                f"{entry.name}: new_services/README.md should say `{entry.runs}`, "
                f"+ {entry.ports[0].offset}"
            )
