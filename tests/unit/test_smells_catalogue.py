"""The sin catalogue and the SMELL tags in the legacy code name the same sins."""

import re
from pathlib import Path

LEGACY = Path(__file__).resolve().parents[2] / "legacy_app"
TAG = re.compile(r"SMELL\(([a-z0-9-]+)\)")
SEAM = re.compile(r"SEAM\(([a-z0-9-]+)\)")


def tags_in_code(tag: re.Pattern[str] = TAG) -> set[str]:
    found: set[str] = set()
    for path in LEGACY.glob("*.py"):
        found.update(tag.findall(path.read_text()))
    return found


def seams_listed() -> set[str]:
    """The seams listed under "The changes the migration made here" in SMELLS.md."""
    text = (LEGACY / "SMELLS.md").read_text()
    section = text.split("## The changes the migration made here", 1)[1]
    return {m.group(1) for m in re.finditer(r"^- `SEAM\(([a-z0-9-]+)\)`", section, re.M)}


def tags_in_catalogue() -> set[str]:
    rows = (LEGACY / "SMELLS.md").read_text().splitlines()
    return {m.group(1) for row in rows if (m := re.match(r"^\| `([a-z0-9-]+)` \|", row))}


def test_every_tag_in_the_code_is_catalogued_and_every_catalogued_sin_is_tagged() -> None:
    assert tags_in_code() == tags_in_catalogue()


def test_the_catalogue_lists_at_least_eleven_distinct_sins() -> None:
    assert len(tags_in_catalogue()) >= 11


def test_every_catalogue_row_says_where_why_and_which_principle() -> None:
    for row in (LEGACY / "SMELLS.md").read_text().splitlines():
        if re.match(r"^\| `[a-z0-9-]+` \|", row):
            cells = [cell.strip() for cell in row.strip("|").split("|")]
            assert len(cells) == 6, row
            assert all(cells[:4]), row


def test_every_seam_marked_in_the_legacy_code_is_listed_and_every_listed_seam_is_marked() -> None:
    assert tags_in_code(SEAM) == seams_listed()
    assert seams_listed() >= {"soft-deletes", "product-generation"}
