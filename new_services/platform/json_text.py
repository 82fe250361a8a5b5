"""Strings JSON may spell but UTF-8 cannot carry (lone surrogates), found before a write.

`"\\ud800"` is valid JSON and decodes to a Python `str`, but no database, HTTP body or
mail server takes it: left in, it fails deep inside a write (a 500, and in a checkout
after the stock is held). The edge refuses it at once, naming the field.
"""

from __future__ import annotations

from typing import Any


def lone_surrogate(value: Any) -> str | None:
    """Where (`items[0].name`) the first string or key that UTF-8 cannot encode is, else None."""
    todo: list[tuple[str, Any]] = [("", value)]  # a loop: the body may be nested deeply
    while todo:
        path, item = todo.pop()
        if isinstance(item, str):
            if not utf8_ok(item):
                return path or "the body"
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                name = f"{path}.{key}" if path else str(key)
                if not utf8_ok(key):
                    return printable(name)
                todo.append((name, child))
        elif isinstance(item, list):
            todo.extend((f"{path}[{i}]", child) for i, child in reversed(list(enumerate(item))))
    return None


def utf8_ok(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """`text` with each lone surrogate written as its escape, `\\ud800`."""
    return text.encode("utf-8", "backslashreplace").decode()


def not_unicode(where: str) -> str:
    """The message for a field that holds a lone surrogate (legacy's words, on v1 and v2)."""
    return f"{where} must be valid Unicode text (it holds a lone surrogate)"
