"""The public listener: a raw ASGI reverse proxy routing each request by the live route table."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from gateway import headers as h
from gateway.canary import to_extracted
from gateway.paths import AmbiguousPathError, normalise
from gateway.problems import CONTENT_TYPE, problem
from gateway.routes import SAFE_METHODS, Match, Mode, Route, RouteTable
from gateway.upstream import (
    Upstream,
    UpstreamBroken,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnreachable,
)

log = logging.getLogger("gateway.proxy")

STREAM_FROM_BYTES = 64 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


@dataclass(frozen=True)
class ProxyConfig:
    max_body_bytes: int = 1024 * 1024
    internal_token: str | None = None  # authorises X-Strangler-Target / X-Strangler-Shadow


@dataclass
class Decision:
    """Where one request goes, and why (the reason ends up in logs and metrics)."""

    target: str  # "legacy" or "extracted"
    reason: str


def sticky_key(
    route: Route, match: Match, headers: dict[str, str], query: bytes, body: bytes | None
) -> str | None:
    key = route.sticky_key
    if key is None:
        return None
    if key.source == "header":
        return headers.get(key.name)
    if key.source == "path":
        return match.params.get(key.name)
    if key.source == "query":
        values = parse_qs(query.decode("latin-1")).get(key.name)
        return values[0] if values else None
    if key.source == "cookie":
        try:
            jar = SimpleCookie(headers.get("cookie", ""))
        except CookieError:
            return None
        morsel = jar.get(key.name)
        return morsel.value if morsel else None
    if key.source == "json" and body:
        try:
            document = json.loads(body)
        except ValueError:
            return None
        value = document.get(key.name) if isinstance(document, dict) else None
        return None if value is None or isinstance(value, dict | list) else str(value)
    return None


def decide(route: Route, key: str | None, override: str | None) -> Decision:
    """The routing rule for each mode.

    canary without a key: legacy (the safe side; a keyless request cannot be kept sticky).
    """
    if override in ("legacy", "extracted") and (override == "legacy" or route.extracted):
        return Decision(override, "override")
    if route.mode is Mode.EXTRACTED:
        return Decision("extracted", "mode")
    if route.mode is Mode.CANARY:
        if key is None:
            return Decision("legacy", "no-key")
        if to_extracted(route.salt, key, route.weight):
            return Decision("extracted", "canary")
        return Decision("legacy", "canary")
    return Decision("legacy", "mode")


class Proxy:
    """Routes, forwards and streams; answers problem+json for everything it refuses."""

    def __init__(
        self, table: Callable[[], RouteTable], upstream: Upstream, config: ProxyConfig
    ) -> None:
        self._table = table
        self._upstream = upstream
        self._config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        header_pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        headers = {k.lower(): v for k, v in header_pairs}
        rid = h.request_id(headers.get("x-request-id"))
        method = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        raw_path = raw_path.split(b"?", 1)[0]
        query: bytes = scope.get("query_string", b"")
        try:
            path = normalise(raw_path)
        except AmbiguousPathError as exc:
            await self._problem(send, rid, 400, "ambiguous-path", "Ambiguous path", str(exc), None)
            return
        table = self._table()
        match = table.match(method, path)
        route = match.route

        token = headers.get(h.TOKEN)
        authorised = bool(
            token
            and self._config.internal_token
            and hmac.compare_digest(token, self._config.internal_token)
        )
        declared = headers.get("content-length")
        if declared is not None and (
            not declared.isdigit() or int(declared) > self._config.max_body_bytes
        ):
            status, slug, title = (
                (413, "body-too-large", "Body too large")
                if declared.isdigit()
                else (400, "bad-length", "Bad Content-Length")
            )
            await self._problem(
                send,
                rid,
                status,
                slug,
                title,
                f"bodies are limited to {self._config.max_body_bytes} bytes",
                route,
            )
            return
        # Small bodies are cheaper to buffer than to stream; bodies a route may need to read
        # (sticky JSON key) or replay (fallback) are buffered whatever their size.
        buffer = (
            declared is None
            or int(declared) <= STREAM_FROM_BYTES
            or route.mode is not Mode.LEGACY
            or (route.sticky_key is not None and route.sticky_key.source == "json")
        )
        body: bytes | AsyncIterator[bytes]
        if buffer:
            try:
                body = await _read_body(receive, self._config.max_body_bytes)
            except BodyTooLarge:
                await self._problem(
                    send,
                    rid,
                    413,
                    "body-too-large",
                    "Body too large",
                    f"bodies are limited to {self._config.max_body_bytes} bytes",
                    route,
                )
                return
        else:
            body = _stream_body(receive)

        key = sticky_key(route, match, headers, query, body if isinstance(body, bytes) else None)
        decision = decide(route, key, headers.get(h.TARGET) if authorised else None)
        out_headers = h.upstream_headers(
            header_pairs,
            client_ip=(scope.get("client") or (None,))[0],
            scheme=scope.get("scheme", "http"),
            host=headers.get("host"),
            rid=rid,
            keep_internal=authorised,
        )
        if isinstance(body, bytes):
            out_headers = [(n, v) for n, v in out_headers if n.lower() != "content-length"]
        url_tail = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")

        upstream_name = route.extracted if decision.target == "extracted" else route.legacy
        assert upstream_name is not None
        try:
            response = await self._send(
                route, table, upstream_name, method, url_tail, out_headers, body
            )
        except UpstreamError as exc:
            if decision.target == "extracted" and self._may_fall_back(
                route, method, headers, body, exc
            ):
                log.warning(
                    "fallback to legacy",
                    extra={"route": route.name, "request_id": rid, "error": str(exc)},
                )
                await self._forward_or_fail(
                    send, rid, route, table, route.legacy, method, url_tail, out_headers, body
                )
                return
            await self._upstream_failed(send, rid, route, exc)
            return
        if (
            decision.target == "extracted"
            and response.status >= 500
            and self._may_fall_back(route, method, headers, body, None)
        ):
            await response.read()
            log.warning(
                "fallback to legacy after %s",
                response.status,
                extra={"route": route.name, "request_id": rid},
            )
            await self._forward_or_fail(
                send, rid, route, table, route.legacy, method, url_tail, out_headers, body
            )
            return
        await self._relay(send, rid, response)

    async def _send(
        self,
        route: Route,
        table: RouteTable,
        upstream_name: str,
        method: str,
        url_tail: str,
        out_headers: list[tuple[str, str]],
        body: bytes | AsyncIterator[bytes],
    ) -> UpstreamResponse:
        return await self._upstream.send(
            method,
            table.upstreams[upstream_name] + url_tail,
            out_headers,
            body,
            route.timeout_s,
            route.connect_timeout_s,
        )

    async def _forward_or_fail(
        self,
        send: Send,
        rid: str,
        route: Route,
        table: RouteTable,
        upstream_name: str,
        method: str,
        url_tail: str,
        out_headers: list[tuple[str, str]],
        body: bytes | AsyncIterator[bytes],
    ) -> None:
        try:
            response = await self._send(
                route, table, upstream_name, method, url_tail, out_headers, body
            )
        except UpstreamError as exc:
            await self._upstream_failed(send, rid, route, exc)
            return
        await self._relay(send, rid, response)

    @staticmethod
    def _may_fall_back(
        route: Route,
        method: str,
        headers: dict[str, str],
        body: bytes | AsyncIterator[bytes],
        error: UpstreamError | None,
    ) -> bool:
        """Retry on legacy only when that cannot perform a write twice."""
        if not route.fallback or not isinstance(body, bytes):
            return False
        never_left = isinstance(error, UpstreamUnreachable)
        return never_left or method in SAFE_METHODS or "idempotency-key" in headers

    async def _relay(self, send: Send, rid: str, response: UpstreamResponse) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": h.client_headers(response.headers, rid),
            }
        )
        try:
            async for chunk in response.body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except UpstreamError as exc:
            # Headers are gone; the honest signal left is an incomplete body.
            log.error("upstream body failed midway: %s", exc, extra={"request_id": rid})
            raise
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _upstream_failed(
        self, send: Send, rid: str, route: Route, exc: UpstreamError
    ) -> None:
        if isinstance(exc, UpstreamTimeout):
            await self._problem(
                send,
                rid,
                504,
                "upstream-timeout",
                "Upstream timed out",
                f"route {route.name}: {exc}",
                route,
            )
        elif isinstance(exc, UpstreamUnreachable):
            await self._problem(
                send,
                rid,
                502,
                "upstream-unreachable",
                "Upstream unreachable",
                f"route {route.name}: the upstream refused the connection",
                route,
            )
        else:
            assert isinstance(exc, UpstreamBroken | UpstreamError)
            await self._problem(
                send,
                rid,
                502,
                "upstream-failed",
                "Upstream failed",
                f"route {route.name}: the upstream broke the connection",
                route,
            )

    @staticmethod
    async def _problem(
        send: Send, rid: str, status: int, slug: str, title: str, detail: str, route: Route | None
    ) -> None:
        extra = {"request_id": rid}
        if route is not None:
            extra["route"] = route.name
        status, body = problem(status, slug, title, detail, **extra)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    CONTENT_TYPE,
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _stream_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
