"""Shadow-mode comparison: does the candidate answer like the primary, rules permitting?

In the spirit of Twitter's Diffy and GitHub's Scientist. Pure: the gateway hands in two
finished responses and gets back the differences, in document order (object keys
sorted, list indices numeric), capped at `max_differences`.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, NamedTuple

from gateway.jsonpath import Location, PathSet, State, Step, format_location, generalise

MAX_DIFFERENCES: Final = 1000
# JSON nested deeper is compared as bytes: the walk recurses and must stay far from
# Python's recursion limit.
MAX_DEPTH: Final = 100
# Matching unordered lists within a tolerance tries every pair; past this, only exact matches.
MAX_PAIRS: Final = 10_000
PREVIEW_BYTES: Final = 60
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_SETTINGS = ("ignore", "headers", "numeric_tolerance", "unordered", "discount_noise")


@dataclass(frozen=True)
class CompareRules:
    """What may differ: ignored paths, headers that must match, tolerance, unordered lists;
    and whether paths where legacy differs from itself are left out of parity (shadow.py)."""

    ignore: tuple[str, ...] = ()
    headers: tuple[str, ...] = ("content-type",)
    numeric_tolerance: float = 0.0
    unordered: tuple[str, ...] = ()
    discount_noise: bool = True

    def __post_init__(self) -> None:
        _paths(self.ignore)
        _paths(self.unordered)
        for name in self.headers:
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"invalid header name {name!r}")
        _tolerance(self.numeric_tolerance)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Difference:
    """One way the candidate differs from the primary.

    kind is one of status, header, missing, unexpected, type, value, length, body. The
    absent side of a "missing" or "unexpected" value, or of a header, is None.
    """

    path: str
    kind: str
    expected: object
    actual: object


@dataclass(frozen=True)
class Comparison:
    """The differences found, in document order; none means the candidate matched."""

    differences: tuple[Difference, ...]
    truncated: bool = False  # more differences were found than were kept

    @property
    def match(self) -> bool:
        return not self.differences


def parse_rules(mapping: Mapping[str, object]) -> CompareRules:
    """Rules from a route's `compare` settings; ValueError names the bad setting or value."""
    unknown = sorted(str(key) for key in mapping if key not in _SETTINGS)
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; expected one of {', '.join(_SETTINGS)}")
    return CompareRules(
        ignore=_strings(mapping, "ignore", ()),
        headers=_strings(mapping, "headers", CompareRules.headers),
        numeric_tolerance=_tolerance(mapping.get("numeric_tolerance", 0.0)),
        unordered=_strings(mapping, "unordered", ()),
        discount_noise=_flag(mapping, "discount_noise", True),
    )


def _flag(mapping: Mapping[str, object], name: str, default: bool) -> bool:
    value = mapping.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _tolerance(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"numeric_tolerance must be a number, got {value!r}")
    if not 0 <= value < math.inf:
        raise ValueError(f"numeric_tolerance must be finite and not negative, got {value!r}")
    return value


def _strings(mapping: Mapping[str, object], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = mapping.get(name, default)
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{name} must be a list of strings, got {value!r}")
    return tuple(value)


@lru_cache(maxsize=256)
def _paths(texts: tuple[str, ...]) -> PathSet:
    return PathSet.parse(texts)


def compare(
    primary: Response,
    candidate: Response,
    rules: CompareRules,
    *,
    max_differences: int = MAX_DIFFERENCES,
) -> Comparison:
    """How `candidate` differs from `primary` (the expected answer) under `rules`."""
    if max_differences < 1:
        raise ValueError(f"max_differences must be at least 1, got {max_differences}")
    walk = _Walk(rules, max_differences)
    try:
        if primary.status != candidate.status:
            walk.add("status", "status", primary.status, candidate.status)
        for name in sorted({name.lower() for name in rules.headers}):
            expected, actual = _header(primary.headers, name), _header(candidate.headers, name)
            if expected != actual:
                walk.add(f"header:{name}", "header", expected, actual)
        if primary.body != candidate.body:
            walk.bodies(primary.body, candidate.body)
    except _Full:
        return Comparison(tuple(walk.found), truncated=True)
    return Comparison(tuple(walk.found))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name), None)


class _Full(Exception):
    """The walk found more differences than it may keep."""


class _TooDeep(Exception):
    """The bodies nest deeper than MAX_DEPTH: they are compared as bytes instead."""


class _Cursor(NamedTuple):
    """A node being compared: where it is, and how far each set of patterns has matched."""

    location: Location
    ignore: State
    unordered: State


class _Walk:
    """Collects differences while walking two parsed bodies side by side."""

    def __init__(self, rules: CompareRules, limit: int) -> None:
        self.ignore, self.unordered = _paths(rules.ignore), _paths(rules.unordered)
        self.tolerance = rules.numeric_tolerance
        self.limit = limit
        self.found: list[Difference] = []

    def add(self, path: str, kind: str, expected: object, actual: object) -> None:
        if len(self.found) == self.limit:
            raise _Full
        self.found.append(Difference(path, kind, expected, actual))

    def bodies(self, primary: bytes, candidate: bytes) -> None:
        expected, actual = _load(primary), _load(candidate)
        if expected is not _NOT_JSON and actual is not _NOT_JSON:
            kept = len(self.found)
            try:
                self.diff(
                    _Cursor((), self.ignore.start(), self.unordered.start()), expected, actual
                )
                return
            except _TooDeep:
                del self.found[kept:]
        start = max(0, _common_prefix(primary, candidate) - PREVIEW_BYTES // 3)
        self.add("body", "body", _preview(primary, start), _preview(candidate, start))

    def child(self, at: _Cursor, step: Step) -> _Cursor:
        if len(at.location) == MAX_DEPTH:
            raise _TooDeep
        return _Cursor(
            (*at.location, step),
            self.ignore.step(at.ignore, step),
            self.unordered.step(at.unordered, step),
        )

    def diff(self, at: _Cursor, expected: object, actual: object) -> None:
        if self.ignore.matched(at.ignore):
            return
        if _json_type(expected) != _json_type(actual):
            self.add(format_location(at.location), "type", expected, actual)
        elif isinstance(expected, dict) and isinstance(actual, dict):
            for key in sorted(expected.keys() | actual.keys()):
                below = self.child(at, key)
                if self.ignore.matched(below.ignore):
                    continue
                if key not in actual:
                    self.add(format_location(below.location), "missing", expected[key], None)
                elif key not in expected:
                    self.add(format_location(below.location), "unexpected", None, actual[key])
                else:
                    self.diff(below, expected[key], actual[key])
        elif isinstance(expected, list) and isinstance(actual, list):
            if self.unordered.matched(at.unordered):
                self.diff_unordered(at, expected, actual)
            else:
                self.diff_ordered(at, expected, actual)
        elif expected != actual and not _equal(_leaf(expected), _leaf(actual), self.tolerance):
            self.add(format_location(at.location), "value", expected, actual)

    def diff_ordered(self, at: _Cursor, expected: list[object], actual: list[object]) -> None:
        if len(expected) != len(actual):
            self.add(format_location(at.location), "length", len(expected), len(actual))
        for index, (left, right) in enumerate(zip(expected, actual, strict=False)):
            self.diff(self.child(at, index), left, right)

    def diff_unordered(self, at: _Cursor, expected: list[object], actual: list[object]) -> None:
        """Compare as multisets; an element with no counterpart is reported at `list[*]`."""
        left = [self.canon(self.child(at, i), item) for i, item in enumerate(expected)]
        right = [self.canon(self.child(at, i), item) for i, item in enumerate(actual)]
        lost, extra = _unmatched(left, right, self.tolerance)
        path = format_location(at.location) + "[*]"
        for i in lost:
            self.add(path, "missing", expected[i], None)
        for j in extra:
            self.add(path, "unexpected", None, actual[j])

    def canon(self, at: _Cursor, value: object) -> _Canon:
        """The value with the rules applied, in a form that is equal exactly when values are."""
        if self.ignore.matched(at.ignore):
            return _IGNORED
        if isinstance(value, dict):
            fields = [(key, self.child(at, key)) for key in sorted(value)]
            kept = [(key, below) for key, below in fields if not self.ignore.matched(below.ignore)]
            return _Object(
                tuple(key for key, _ in kept),
                tuple(self.canon(below, value[key]) for key, below in kept),
            )
        if isinstance(value, list):
            items = tuple(self.canon(self.child(at, i), item) for i, item in enumerate(value))
            if self.unordered.matched(at.unordered):
                return _Bag(frozenset(Counter(items).items()))
            return _Array(items)
        return _leaf(value)


# Canonical forms: hashable, so unordered lists can be matched by counting.


@dataclass(frozen=True)
class _Leaf:
    kind: str  # the JSON type, so that true and 1, or "1" and 1, never compare equal
    value: object


@dataclass(frozen=True)
class _Number:
    value: float  # or int: 1 and 1.0 are equal and hash alike


@dataclass(frozen=True)
class _Array:
    items: tuple[_Canon, ...]


@dataclass(frozen=True)
class _Object:
    keys: tuple[str, ...]
    values: tuple[_Canon, ...]


@dataclass(frozen=True)
class _Bag:
    counts: frozenset[tuple[_Canon, int]]

    def elements(self) -> list[_Canon]:
        return [item for item, count in self.counts for _ in range(count)]


_Canon = _Leaf | _Number | _Array | _Object | _Bag
_IGNORED: Final = _Leaf("ignored", None)
_NAN: Final = _Leaf("nan", None)  # NaN != NaN, but a body holding NaN still matches itself


def _leaf(value: object) -> _Canon:
    kind = _json_type(value)
    if kind == "number" and isinstance(value, int | float):
        return _NAN if isinstance(value, float) and math.isnan(value) else _Number(value)
    return _Leaf(kind, value)


def _equal(a: _Canon, b: _Canon, tolerance: float) -> bool:
    if a == b:
        return True
    if not tolerance:
        return False
    match a, b:
        case _Number(x), _Number(y):
            return _close(x, y, tolerance)
        case _Array(xs), _Array(ys):
            return _all_equal(xs, ys, tolerance)
        case _Object(keys, xs), _Object(other_keys, ys):
            return keys == other_keys and _all_equal(xs, ys, tolerance)
        case _Bag() as x, _Bag() as y:
            return _unmatched(x.elements(), y.elements(), tolerance) == ([], [])
    return False


def _close(x: float, y: float, tolerance: float) -> bool:
    # 100.05 - 100 is not exactly 0.05 in binary: allow the rounding of the float operands.
    slack = sum(math.ulp(value) for value in (x, y) if isinstance(value, float))
    try:
        return abs(x - y) <= tolerance + slack
    except OverflowError:  # an integer too large for a float is not close to one
        return False


def _all_equal(xs: Sequence[_Canon], ys: Sequence[_Canon], tolerance: float) -> bool:
    return len(xs) == len(ys) and all(_equal(x, y, tolerance) for x, y in zip(xs, ys, strict=True))


def _unmatched(
    left: Sequence[_Canon], right: Sequence[_Canon], tolerance: float
) -> tuple[list[int], list[int]]:
    """Indices on each side left over by a largest matching of equal elements."""
    lost, extra = list(range(len(left))), list(range(len(right)))
    if not tolerance or len(left) * len(right) > MAX_PAIRS:
        waiting: dict[_Canon, list[int]] = {}
        for j in reversed(extra):
            waiting.setdefault(right[j], []).append(j)
        lost = []
        for i, item in enumerate(left):
            if waiting.get(item):
                waiting[item].pop()
            else:
                lost.append(i)
        extra = sorted(j for js in waiting.values() for j in js)
    if tolerance and lost and extra and len(lost) * len(extra) <= MAX_PAIRS:
        lost, extra = _match_close(left, right, lost, extra, tolerance)
    return lost, extra


def _match_close(
    left: Sequence[_Canon],
    right: Sequence[_Canon],
    lost: list[int],
    extra: list[int],
    tolerance: float,
) -> tuple[list[int], list[int]]:
    """Maximum bipartite matching (Kuhn): greedy pairing within a tolerance can miss one."""
    near = {i: [j for j in extra if _equal(left[i], right[j], tolerance)] for i in lost}
    owner: dict[int, int] = {}

    def claim(i: int, seen: set[int]) -> bool:
        for j in near[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or claim(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    still_lost = [i for i in lost if not claim(i, set())]
    return still_lost, [j for j in extra if j not in owner]


_JSON_TYPES: Final[dict[type, str]] = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), "object")  # json.loads makes exactly these types


_NOT_JSON: Final = object()


def _load(body: bytes) -> object:
    """The parsed body, or _NOT_JSON."""
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can read
        return _NOT_JSON


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the common prefix, by bisection: each probe is one fast slice comparison."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _preview(body: bytes, start: int) -> str:
    end = start + PREVIEW_BYTES
    text = body[start:end].decode("utf-8", errors="backslashreplace")
    return ("..." if start else "") + text + ("..." if end < len(body) else "")


def render(comparison: Comparison, limit: int = 50) -> str:
    """A readable diff, one line per difference, e.g. `$.total_cents: 1200 != 1250`."""
    if comparison.match:
        return "responses match"
    shown = comparison.differences[:limit]
    lines = [_line(difference) for difference in shown]
    if len(comparison.differences) > len(shown):
        lines.append(f"... and {len(comparison.differences) - len(shown)} more differences")
    if comparison.truncated:
        lines.append(f"(stopped looking after {len(comparison.differences)} differences)")
    return "\n".join(lines)


def _line(difference: Difference) -> str:
    path, expected, actual = difference.path, difference.expected, difference.actual
    match difference.kind:
        case "missing":
            return f"missing {path} (expected {_show(expected)})"
        case "unexpected":
            return f"unexpected {path} (got {_show(actual)})"
        case "length":
            return f"{path}: length {expected} != {actual}"
        case "type":
            return (
                f"{path}: {_show(expected)} ({_json_type(expected)})"
                f" != {_show(actual)} ({_json_type(actual)})"
            )
        case "header":
            return f"{path}: {_show(expected, absent=True)} != {_show(actual, absent=True)}"
    return f"{path}: {_show(expected)} != {_show(actual)}"


def _show(value: object, *, absent: bool = False, width: int = 80) -> str:
    if absent and value is None:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=repr)
    return text if len(text) <= width else text[: width - 3] + "..."


def noise_paths(samples: Iterable[Comparison]) -> Counter[str]:
    """In how many primary-vs-primary comparisons each path differed, list indices as `[*]`.

    Diffy's calibration: what differs when legacy is compared with itself is noise, and
    the counts suggest which paths to add to `ignore`.
    """
    return Counter(
        path for sample in samples for path in {generalise(d.path) for d in sample.differences}
    )
