"""The JSONPath subset that comparison rules are written in, matched while a document is walked.

Supported: `$`, `.key`, `['key with.dots']`, `[0]`, `.*` and `[*]`, and `..` (recursive
descent) before any of them, e.g. `$..updated_at` or `$.orders[*].items`. A pattern
names nodes exactly; it does not also select what is below them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

Step = str | int  # an object key or a list index
Location = tuple[Step, ...]  # where a node is, from the root
State = frozenset[tuple[int, int]]  # (pattern, selectors matched so far) still alive

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDEX = re.compile(r"-?[0-9]+")
_INDEX_STEP = re.compile(r"\[[0-9]+\]|(\['(?:[^'\\]|\\.)*'\])")


@dataclass(frozen=True)
class Selector:
    """One step of a pattern: a key, an index or any child (`key=None`), optionally at any depth."""

    key: Step | None
    descendant: bool = False


@dataclass(frozen=True)
class JsonPath:
    text: str
    selectors: tuple[Selector, ...]


def parse(text: str) -> JsonPath:
    """The pattern `text` spells; ValueError names the text and the position it goes wrong."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise ValueError(f"invalid JSON path {text!r}: it must start with '$', e.g. '$.created_at'")
    selectors: list[Selector] = []
    pos = 1
    while pos < len(text):
        descendant = text.startswith("..", pos)
        if text[pos] == "[":
            key, pos = _bracket(text, pos)
        elif text[pos] == ".":
            pos += 2 if descendant else 1
            name = _NAME.match(text, pos)
            if text.startswith("*", pos):
                key, pos = None, pos + 1
            elif name:
                key, pos = name.group(), name.end()
            elif descendant and text.startswith("[", pos):
                key, pos = _bracket(text, pos)
            else:
                raise _error(text, pos, "expected a key name or '*' after '.'")
        else:
            raise _error(text, pos, "expected '.', '..' or '['")
        selectors.append(Selector(key, descendant))
    return JsonPath(text, tuple(selectors))


def _bracket(text: str, pos: int) -> tuple[Step | None, int]:
    """The `[...]` selector starting at `pos`, and the position after it."""
    inner = pos + 1
    key: Step | None
    if text.startswith("*", inner):
        key, end = None, inner + 1
    elif index := _INDEX.match(text, inner):
        if index.group().startswith("-"):
            raise _error(text, inner, "negative indices are not supported")
        key, end = int(index.group()), index.end()
    elif text.startswith(("'", '"'), inner):
        key, end = _quoted(text, inner)
    else:
        raise _error(text, inner, "expected an index, '*' or a quoted key inside '[...]'")
    if not text.startswith("]", end):
        raise _error(text, end, "expected ']'")
    return key, end + 1


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """The quoted key starting at `pos` (backslash escapes the next character), and its end."""
    quote, chars, pos = text[pos], [], pos + 1
    while pos < len(text) and text[pos] != quote:
        if text[pos] == "\\":
            pos += 1
        chars.append(text[pos : pos + 1])
        pos += 1
    if pos >= len(text):
        raise _error(text, pos, f"unterminated quoted key (missing {quote})")
    return "".join(chars), pos + 1


def _error(text: str, pos: int, reason: str) -> ValueError:
    return ValueError(f"invalid JSON path {text!r} at position {pos}: {reason}")


def format_location(location: Location) -> str:
    """A concrete location as a path: `$.items[1].price_cents`, `$['a.b']`."""
    parts = ["$"]
    for step in location:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif _NAME.fullmatch(step):
            parts.append(f".{step}")
        else:
            escaped = step.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"['{escaped}']")
    return "".join(parts)


def generalise(path: str) -> str:
    """The path with every list index replaced by `[*]`; quoted keys are left alone."""
    return _INDEX_STEP.sub(lambda m: m.group(1) or "[*]", path)


class _Moves(NamedTuple):
    matched: bool  # some pattern names exactly this node
    by_key: dict[Step, State]  # the next state for each key or index a pattern names here
    otherwise: State  # the next state for any other step


@dataclass(frozen=True)
class PathSet:
    """Patterns matched together while walking a document one step at a time.

    A walker keeps one `State` per node. What a state does next depends only on the
    state, so it is worked out once and remembered: matching then costs a dictionary
    look-up per node, at any depth, with recursive descent and no backtracking.
    """

    paths: tuple[JsonPath, ...]
    _moves: dict[State, _Moves] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def parse(cls, texts: Iterable[str]) -> PathSet:
        return cls(tuple(parse(text) for text in texts))

    def start(self) -> State:
        """The state at the document root."""
        return frozenset((p, 0) for p in range(len(self.paths)))

    def step(self, state: State, step: Step) -> State:
        """The state at the child reached by `step`."""
        moves = self._moves.get(state) or self._plan(state)
        return moves.by_key.get(step, moves.otherwise)

    def matched(self, state: State) -> bool:
        """Whether some pattern names exactly the node this state belongs to."""
        return (self._moves.get(state) or self._plan(state)).matched

    def _plan(self, state: State) -> _Moves:
        live = [(p, done) for p, done in state if done < len(self.paths[p].selectors)]
        named = {self.paths[p].selectors[done].key for p, done in live} - {None}
        moves = _Moves(
            matched=len(live) < len(state),
            by_key={key: self._advance(live, key) for key in named if key is not None},
            otherwise=self._advance(live, None),
        )
        self._moves[state] = moves
        return moves

    def _advance(self, live: list[tuple[int, int]], step: Step | None) -> State:
        """The next state; a `None` step stands for any key no pattern names."""
        following: set[tuple[int, int]] = set()
        for p, done in live:
            selector = self.paths[p].selectors[done]
            if selector.descendant:
                following.add((p, done))
            if selector.key is None or selector.key == step:
                following.add((p, done + 1))
        return frozenset(following)
