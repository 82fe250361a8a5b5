"""One request, both targets, one diff: what `strangler compare` asks the admin API to do."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gateway import compare as cmp
from gateway import headers as h
from gateway.paths import AmbiguousPathError, normalise
from gateway.routes import METHODS, SAFE_METHODS
from gateway.shadow import Replay, placeholders_of
from gateway.upstream import UpstreamError

if TYPE_CHECKING:
    from gateway.app import Gateway


class CompareRefused(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _answer(response: cmp.Response) -> dict[str, Any]:
    try:
        body: Any = json.loads(response.body)
    except ValueError:
        body = response.body.decode("utf-8", errors="replace")
    return {"status": response.status, "body": body}


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # a header name (RFC 9110 5.6.2)
_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")  # no control characters, no line breaks
# Set by the gateway for each side, never taken from the caller: the upstream's own Host,
# the body's length, the request id the answers are matched by, the forwarding facts.
_GATEWAYS_OWN = frozenset({"host", "content-length", "x-request-id"})


def _caller_headers(given: object) -> list[tuple[str, str]]:
    """The caller's extra headers: an object of header names to string values, without
    Host, hop-by-hop or internal (X-Strangler-*) ones."""
    if given is None:
        return []
    if not isinstance(given, dict):
        raise CompareRefused("headers must be an object of header names to string values")
    for name, value in given.items():
        if not _TOKEN.match(name):
            raise CompareRefused(f"headers: {name[:60]!r} is not a header name")
        if not isinstance(value, str) or not _VALUE.match(value):
            raise CompareRefused(
                f"headers: {name}'s value must be a string of one line without control characters"
            )
    return [
        (name, value)
        for name, value in h.drop_hop_by_hop(given.items())
        if name.lower() not in _GATEWAYS_OWN
        and not name.lower().startswith(("x-strangler-", "x-forwarded-"))
    ]


async def compare_request(gateway: Gateway, document: dict[str, Any]) -> dict[str, Any]:
    method = str(document.get("method", "")).upper()
    if method not in METHODS:
        raise CompareRefused(f"method must be one of {', '.join(sorted(METHODS))}")
    target = str(document.get("path", ""))
    raw_path, _, query = target.partition("?")
    try:
        path = normalise(raw_path.encode())
    except AmbiguousPathError as exc:
        raise CompareRefused(f"path: {exc}") from exc
    table = gateway.live.current
    route = table.match(method, path).route
    if route.extracted is None:
        raise CompareRefused(f"route {route.name} has no extracted upstream to compare with", 409)
    if method not in SAFE_METHODS and not route.dry_run:
        raise CompareRefused(
            f"route {route.name} does not declare dry-run support; a {method} is never sent "
            "to its extracted upstream",
            409,
        )
    payload = document.get("body")
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = _caller_headers(document.get("headers"))
    if body:
        headers.append(("Content-Type", "application/json"))
    rid = uuid.uuid4().hex
    headers.append(("X-Request-ID", rid))
    tail = raw_path + (f"?{query}" if query else "")
    replay = Replay(route, table, method, tail, headers, body)
    answers = {}
    sides = [("legacy", route.legacy), ("extracted", route.extracted)]
    if method not in SAFE_METHODS:
        sides.reverse()  # the dry run first: it must read the state legacy's write changes
    for side, upstream in sides:
        dry_run = side == "extracted" and method not in SAFE_METHODS
        try:
            answers[side] = await gateway.shadow.fetch(replay, upstream, dry_run)
        except UpstreamError as exc:
            raise CompareRefused(f"{side} upstream failed: {exc}", 502) from exc
    rules = gateway.shadow.rules(route, table.version)
    placeholders: tuple[str, ...] = ()
    if method not in SAFE_METHODS:
        placeholders = placeholders_of(answers["extracted"], rid)
        rules = replace(rules, ignore=rules.ignore + placeholders)
    result = cmp.compare(answers["legacy"], answers["extracted"], rules)
    return {
        "route": route.name,
        "request_id": rid,
        "match": result.match,
        "legacy": _answer(answers["legacy"]),
        "extracted": _answer(answers["extracted"]),
        "differences": [
            {"path": d.path, "kind": d.kind, "legacy": d.expected, "extracted": d.actual}
            for d in result.differences
        ],
        "diff": cmp.render(result),
        "placeholders": list(placeholders),
    }
