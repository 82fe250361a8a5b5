"""Header hygiene at the edge: hop-by-hop removal, X-Forwarded-*, request ids, internal headers."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

# RFC 9110 section 7.6.1, plus the de-facto ones proxies drop too.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

SHADOW = "x-strangler-shadow"  # "dry-run": the target must do the work and commit nothing
TARGET = "x-strangler-target"  # developer override: "legacy" or "extracted"
TOKEN = "x-strangler-token"  # noqa: S105 -- a header name; authorises the two above
INTERNAL = frozenset({SHADOW, TARGET, TOKEN})

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def by_name(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict keyed by lower-cased name (the last of repeated ones wins)."""
    return {name.lower(): value for name, value in headers}


def wants_websocket(headers: dict[str, str]) -> bool:
    """An upgrade to WebSocket is asked for (whatever the Connection header says)."""
    upgrade = headers.get("upgrade", "")
    return "websocket" in (token.strip().lower() for token in upgrade.split(","))


def drop_hop_by_hop(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers without hop-by-hop ones, including those the Connection header names."""
    pairs = list(headers)
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [(n, v) for n, v in pairs if n.lower() not in HOP_BY_HOP and n.lower() not in named]


def request_id(incoming: str | None) -> str:
    """Keep a well-formed incoming request id; otherwise mint one."""
    if incoming and _REQUEST_ID.match(incoming):
        return incoming
    # 128 random bits, not secret: from the process's generator (seeded from os.urandom, and
    # again after a fork), which costs no system call, where os.urandom costs one per request
    return f"{random.getrandbits(128):032x}"


def upstream_headers(
    client_headers: Iterable[tuple[str, str]],
    *,
    client_ip: str | None,
    scheme: str,
    host: str | None,
    rid: str,
    keep_internal: bool,
) -> list[tuple[str, str]]:
    """What the upstream receives: the client's end-to-end headers plus forwarding facts."""
    out: list[tuple[str, str]] = []
    forwarded_for = None
    for name, value in drop_hop_by_hop(client_headers):
        lower = name.lower()
        if lower in ("host", "x-request-id", "x-forwarded-proto", "x-forwarded-host", TOKEN):
            continue
        if lower in INTERNAL and not keep_internal:
            continue
        if lower == "x-forwarded-for":
            forwarded_for = value if forwarded_for is None else f"{forwarded_for}, {value}"
            continue
        out.append((name, value))
    if client_ip:
        forwarded_for = client_ip if forwarded_for is None else f"{forwarded_for}, {client_ip}"
    if forwarded_for:
        out.append(("X-Forwarded-For", forwarded_for))
    out.append(("X-Forwarded-Proto", scheme))
    if host:
        out.append(("X-Forwarded-Host", host))
    out.append(("X-Request-ID", rid))
    return out


def client_headers(upstream: Iterable[tuple[str, str]], rid: str) -> list[tuple[bytes, bytes]]:
    """What the client receives: the upstream's end-to-end headers and the request id."""
    out = [
        (n.lower().encode("latin-1"), v.encode("latin-1"))
        for n, v in drop_hop_by_hop(upstream)
        if n.lower() != "x-request-id"
    ]
    out.append((b"x-request-id", rid.encode("latin-1")))
    return out
