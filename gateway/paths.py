"""Path safety: the route is chosen on exactly the path the upstream will see, or refused."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

# Percent-escapes that change a path's structure once decoded: "/", "\", "%" (double
# encoding), NUL and other control characters.
_STRUCTURAL_ESCAPE = re.compile(rb"%(2f|5c|25|0[0-9a-f]|1[0-9a-f]|7f)", re.IGNORECASE)
_ESCAPE = re.compile(rb"%[0-9a-fA-F]{2}")
_FORBIDDEN_BYTE = re.compile(rb"[\x00-\x20\x7f\\]")  # control bytes, space, backslash


class AmbiguousPathError(ValueError):
    """The raw path could be read two ways (by the gateway and by an upstream); refuse it."""


def normalise(raw_path: bytes) -> str:
    """The decoded path routes are matched on; the raw bytes go upstream unchanged.

    Rather than rewriting a suspicious path (and risking that the upstream reads it
    differently), anything whose meaning depends on who decodes it is refused.
    """
    if not raw_path.startswith(b"/"):
        raise AmbiguousPathError("the path must start with /")
    if _FORBIDDEN_BYTE.search(raw_path):
        raise AmbiguousPathError("the path holds a backslash, a space or a control character")
    if _STRUCTURAL_ESCAPE.search(raw_path):
        raise AmbiguousPathError(
            "the path holds an encoded slash, backslash, percent or control character"
        )
    if b"%" in _ESCAPE.sub(b"", raw_path):
        raise AmbiguousPathError("the path holds a malformed percent-escape")
    if b"//" in raw_path:
        raise AmbiguousPathError("the path holds an empty segment (//)")
    try:
        decoded = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AmbiguousPathError("the path is not valid UTF-8 once decoded") from exc
    for segment in decoded.split("/"):
        if segment in (".", ".."):
            raise AmbiguousPathError("the path holds a dot segment (. or ..)")
    return decoded
