"""The HTTP edge's small tools: bounded JSON bodies, ETags, cursors, page sizes and sorts."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from new_services.platform.json_text import lone_surrogate, not_unicode
from new_services.platform.problems import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

MAX_BODY_BYTES = 64 * 1024
DEFAULT_PAGE = 20
MAX_PAGE = 100
NEWEST_FIRST = "-created_at"  # a list's default sort
OLDEST_FIRST = "created_at"
T = TypeVar("T")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused as soon as it passes `limit` rather than held in memory, and
    refused (415) when it is not declared JSON: every body a service reads is JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request bodies are limited to {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"request bodies are limited to {limit} bytes")
    if body and not is_json_media_type(request.headers.get("content-type", "")):
        # text/plain and forms cross origins without a browser's preflight: never JSON here
        raise UnsupportedMediaType("send the body as Content-Type: application/json")
    return bytes(body)


def _number(text: str) -> float | int:
    """A JSON number with a fraction or exponent: an integer when its value is one (18174.0,
    1.5e3). JSON does not tell 18174.0 from 18174, and JSON Schema counts both as an
    `integer`, so v2 takes either wherever its documents say `integer`."""
    value = float(text)
    return int(value) if value.is_integer() else value


def is_json_media_type(content_type: str) -> bool:
    """`application/json` or `application/<something>+json`, with any parameters."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def json_object(raw: bytes) -> dict[str, Any]:
    """The v2 body: a JSON object (else 400), integral numbers as ints (`_number`)."""
    try:
        value = json.loads(raw, parse_float=_number)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("the body must be a JSON object") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("the body must be a JSON object")
    if _holds_nul(value):
        raise InvalidRequest("text must not contain NUL (U+0000)")
    where = lone_surrogate(value)
    if where is not None:
        raise InvalidRequest(not_unicode(where))
    return value


def _holds_nul(value: Any) -> bool:
    """A NUL anywhere in the body's text: PostgreSQL's text columns cannot hold one (the
    write fails), and no field of ours means one. A loop, not recursion: the parser takes
    nesting as deep as the recursion limit."""
    waiting = [value]
    while waiting:
        item = waiting.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            waiting += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            waiting += item
    return False


def canonical_hash(raw: bytes) -> str:
    """SHA-256 of the body's canonical JSON: key order and spacing are not a change."""
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = raw
    return hashlib.sha256(canonical).hexdigest()


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def cached_json(
    request: Request, payload: Any, headers: Mapping[str, str] | None = None
) -> Response:
    """200 with an ETag, or 304 when the client's If-None-Match already names it."""
    body = json_bytes(payload)
    etag = etag_of(body)
    all_headers = {"ETag": etag, **(headers or {})}
    # weak comparison (RFC 9110 13.1.2): W/"x" matches "x"
    wanted = {
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("if-none-match", "").split(",")
    }
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=all_headers)
    return Response(body, media_type="application/json", headers=all_headers)


def encode_cursor(position: Mapping[str, Any]) -> str:
    """An opaque cursor: clients pass it back, never build it."""
    return base64.urlsafe_b64encode(json_bytes(dict(position))).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise InvalidRequest("cursor is not one this service gave out") from exc
    if not isinstance(position, dict):
        raise InvalidRequest("cursor is not one this service gave out")
    return position


def page_size(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_PAGE}")
    return int(raw)


def sorts_oldest_first(request: Request) -> bool:
    """The list's `sort`: newest first (the default) or oldest first, the two orders that
    the list's index on (..., created_at, id) serves; no other is offered."""
    sort = request.query_params.get("sort", NEWEST_FIRST)
    if sort not in (NEWEST_FIRST, OLDEST_FIRST):
        raise InvalidRequest(
            f"sort must be {NEWEST_FIRST!r} (newest first, the default) or {OLDEST_FIRST!r}"
        )
    return sort == OLDEST_FIRST


def _sort_name(oldest_first: bool) -> str:
    return OLDEST_FIRST if oldest_first else NEWEST_FIRST


def time_cursor(at: datetime, row_id: Any, oldest_first: bool) -> str:
    """The cursor of the page after the row at (`at`, `row_id`), in the page's sort."""
    return encode_cursor({"at": at.isoformat(), "id": row_id, "sort": _sort_name(oldest_first)})


def time_position(
    request: Request, oldest_first: bool, row_id: Callable[[Any], T]
) -> tuple[datetime, T] | None:
    """The (created_at, id) that the request's `time_cursor` names, in UTC; None on a first
    page. `row_id` reads the id, raising TypeError or ValueError for one not ours."""
    cursor = request.query_params.get("cursor")
    if cursor is None:
        return None
    position = decode_cursor(cursor)
    given = position.get("sort", NEWEST_FIRST)  # cursors from before sorts: the default
    if given not in (NEWEST_FIRST, OLDEST_FIRST):
        raise InvalidRequest("cursor is not one this service gave out")
    if given != _sort_name(oldest_first):
        raise InvalidRequest(f"this cursor continues sort={given}: ask with that sort")
    try:
        at = position["at"]
        if not isinstance(at, str):
            raise TypeError("at is a string")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("the cursors given out name their time zone")
        return moment.astimezone(UTC), row_id(position["id"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidRequest("cursor is not one this service gave out") from exc


DRY_RUN_PROVEN = "strangler_dry_run"  # set in the scope's state by platform/dry_run.py


def is_dry_run(request: Request) -> bool:
    """The gateway mirrored this write, and proved it (platform/dry_run.py): check and
    answer everything, keep nothing. An unproven dry run never reaches a handler."""
    return request.scope.get("state", {}).get(DRY_RUN_PROVEN) is True


def wants_fresh(request: Request) -> bool:
    """The request says `Cache-Control: no-cache` (RFC 9111 5.2.1.4): read anew, not from a
    cache."""
    directives = request.headers.get("cache-control", "").lower().split(",")
    return "no-cache" in (d.strip() for d in directives)


def dry_run_headers(*placeholders: str) -> dict[str, str]:
    """The headers of a dry run's answer: it says it is one, and names (as JSON paths) the
    values it could not know because nothing was made: the id of an order never placed,
    its charge, the moment it would have been made. The gateway's comparison leaves those
    paths out of that one answer and shows them beside the figures."""
    headers = {"X-Strangler-Dry-Run": "true"}
    if placeholders:
        headers["X-Strangler-Placeholders"] = ", ".join(placeholders)
    return headers
