"""The public listener: a raw ASGI reverse proxy routing each request by the live route table."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from gateway import headers as h
from gateway.breaker import Breaker, Breakers, Permit
from gateway.canary import to_extracted
from gateway.compare import Response
from gateway.faults import Clock, Random, utc_now
from gateway.metrics import Metrics
from gateway.paths import AmbiguousPathError, normalise
from gateway.problems import CONTENT_TYPE, problem
from gateway.routes import SAFE_METHODS, Match, Mode, Route, RouteTable
from gateway.shadow import MAX_COMPARED_BYTES, MirrorJob, Replay, Shadow, mirrorable
from gateway.signals import SignalRecorder
from gateway.upstream import (
    Upstream,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnreachable,
)

log = logging.getLogger("gateway.proxy")


Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


class ClientGone(Exception):
    """The client disconnected before its request body ended: nothing of it goes upstream."""


@dataclass(frozen=True)
class ProxyConfig:
    max_body_bytes: int = 1024 * 1024
    internal_token: str | None = None  # authorises X-Strangler-Target / X-Strangler-Shadow
    # Request bodies up to this size are buffered, larger ones stream. A streamed body
    # cannot carry an upstream's early answer (say a 413 sent before reading) back
    # reliably: the upstream closes while the body is still being written.
    stream_from_bytes: int = 1024 * 1024


@dataclass
class Decision:
    """Where one request goes, and why (the reason ends up in logs and metrics)."""

    target: str  # "legacy" or "extracted"
    reason: str


def sticky_key(
    route: Route, match: Match, headers: dict[str, str], query: bytes, body: bytes | None
) -> str | None:
    key = route.effective_sticky_key  # a group member reads its group's key
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
        if to_extracted(route.effective_salt, key, route.weight):
            return Decision("extracted", "canary")
        return Decision("legacy", "canary")
    return Decision("legacy", "mode")


@dataclass
class Exchange:
    """One request on its way through the proxy."""

    rid: str
    method: str
    started: float
    # when the side now serving it was asked: a fallback's legacy answer is timed from the
    # fallback, so legacy's latency figures do not carry the extracted side's failure
    side_started: float = 0.0
    route: Route | None = None
    table: RouteTable | None = None
    target: str = "gateway"  # who answered: legacy, extracted, or the gateway itself
    url_tail: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    out_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""
    breaker: Breaker | None = None  # guards the extracted upstream for this request
    permit: Permit | None = None
    fault: str = ""  # the injected fault's kinds ("delay, abort"), told to the client


class Proxy:
    """Routes, forwards and streams; answers problem+json for everything it refuses."""

    def __init__(
        self,
        table: Callable[[], RouteTable],
        upstream: Upstream,
        config: ProxyConfig,
        shadow: Shadow | None = None,
        metrics: Metrics | None = None,
        breakers: Breakers | None = None,
        clock: Clock = utc_now,
        draw: Random = random.random,
        signals: SignalRecorder | None = None,
    ) -> None:
        self._table = table
        self._upstream = upstream
        self._config = config
        self._shadow = shadow
        self._metrics = metrics or Metrics()
        self._breakers = breakers
        self._clock = clock  # when a route's fault expires
        self._draw = draw  # which requests draw it
        self._signals = signals
        # compared as bytes: a header's bytes are whatever the client sent (str comparison
        # raises on non-ASCII, which was a 500 and a traceback per request)
        self._internal_token = (config.internal_token or "").encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # served by a server with WebSockets on
            await self._refuse_websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        header_pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        headers = h.by_name(header_pairs)
        x = Exchange(
            h.request_id(headers.get("x-request-id")), scope["method"], time.perf_counter()
        )
        x.headers = headers
        if h.wants_websocket(headers):
            # Nothing behind the gateway speaks WebSocket, and an upgraded connection is no
            # longer HTTP the gateway could route or guard: refused, and the connection closed.
            await self._problem(
                send,
                x,
                400,
                "websocket-unsupported",
                "WebSocket unsupported",
                _NO_WEBSOCKET,
                close=True,
            )
            return
        raw_path: bytes = (scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0]
        query: bytes = scope.get("query_string", b"")
        try:
            path = normalise(raw_path)
        except AmbiguousPathError as exc:
            await self._problem(send, x, 400, "ambiguous-path", "Ambiguous path", str(exc))
            return
        x.table = table = self._table()
        match = table.match(x.method, path)
        x.route = route = match.route

        limit = self._config.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and not (declared.isascii() and declared.isdigit()):
            await self._problem(send, x, 400, "bad-length", "Bad Content-Length", declared[:40])
            return
        if declared is not None and int(declared) > limit:
            await self._problem(send, x, 413, "body-too-large", "Body too large", _limit(limit))
            return
        # Small bodies are cheaper to buffer than to stream; bodies a route may need to read
        # (sticky JSON key), mirror or replay (fallback) are buffered whatever their size.
        if (
            declared is None
            or int(declared) <= self._config.stream_from_bytes
            or route.mode is not Mode.LEGACY
            or (
                route.effective_sticky_key is not None
                and route.effective_sticky_key.source == "json"
            )
        ):
            try:
                x.body = await _read_body(receive, limit)
            except BodyTooLarge:
                await self._problem(send, x, 413, "body-too-large", "Body too large", _limit(limit))
                return
            except ClientGone:
                return  # no one to answer, and a cut body must not pass for a whole one
        else:
            x.body = _stream_body(receive)

        token = headers.get(h.TOKEN)
        authorised = bool(
            token
            and self._internal_token
            and hmac.compare_digest(token.encode("latin-1"), self._internal_token)
        )
        body = x.body if isinstance(x.body, bytes) else None
        decision = decide(
            route,
            sticky_key(route, match, headers, query, body),
            headers.get(h.TARGET) if authorised else None,
        )
        if decision.target == "extracted" and decision.reason != "override" and self._breakers:
            assert route.extracted is not None
            x.breaker = self._breakers.get(route.name, route.extracted, route.breaker)
            x.permit = x.breaker.allow()
            if x.permit is None:
                decision = Decision("legacy", "breaker-open")
                if self._signals is not None:  # the extracted side failed this one too
                    self._signals.record_diverted(route.name)
        if decision.target == "legacy" and route.legacy in table.retired:
            await self._retired(send, x, decision)
            return
        x.out_headers = h.upstream_headers(
            header_pairs,
            client_ip=(scope.get("client") or (None,))[0],
            scheme=scope.get("scheme", "http"),
            host=headers.get("host"),
            rid=x.rid,
            keep_internal=authorised,
        )
        if isinstance(x.body, bytes):
            x.out_headers = [(n, v) for n, v in x.out_headers if n.lower() != "content-length"]
        x.url_tail = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")

        try:
            if decision.target == "extracted":
                # a developer's override reaches the side as it is, faults aside, as it
                # passes the breaker: the one way to tell a drill from a real outage
                await self._extracted_first(send, x, faults=decision.reason != "override")
            else:
                await self._legacy(send, x)
        except ClientGone:  # while its body streamed: the upstream saw it cut, not whole
            log.info("the client left before the end of its body", extra={"request_id": x.rid})

    async def _legacy(self, send: Send, x: Exchange) -> None:
        assert x.route is not None and x.table is not None
        x.target = "legacy"
        route = x.route
        shadowing = (
            self._shadow is not None
            and (route.mode is Mode.SHADOW or (route.mode is Mode.CANARY and route.canary_mirror))
            and route.extracted is not None
            and isinstance(x.body, bytes)
            and mirrorable(route, x.method)
            and self._shadow.sampled(route, x.table.version)
        )
        early, ordered = None, True
        if shadowing and self._shadow is not None and x.method not in SAFE_METHODS:
            # the dry run leads: it reads the state this write is about to change
            early = self._shadow.send_early(self._replay(x))
            shadowing = early is not None
            if early is not None:
                ordered = await self._shadow.lead(early, route.dry_run_wait_s)
        try:
            response = await self._send(x, route.legacy)
        except UpstreamError as exc:
            if early is not None:
                early.cancel()
            await self._upstream_failed(send, x, exc)
            return
        captured = await self._relay(send, x, response, capture=shadowing)
        if shadowing and captured is not None and self._shadow is not None:
            # the client already has its answer: the mirror can no longer delay or change it
            self._shadow.offer(
                MirrorJob(
                    **vars(self._replay(x)),
                    primary=Response(response.status, h.by_name(response.headers), captured),
                    request_id=x.rid,
                    early=early,
                    ordered=ordered,
                )
            )
        elif early is not None:
            early.cancel()

    @staticmethod
    def _replay(x: Exchange) -> Replay:
        assert x.route is not None and x.table is not None
        return Replay(
            route=x.route,
            table=x.table,
            method=x.method,
            url_tail=x.url_tail,
            headers=x.out_headers,
            body=x.body if isinstance(x.body, bytes) else b"",
        )

    async def _extracted_first(self, send: Send, x: Exchange, faults: bool = True) -> None:
        route = x.route
        assert route is not None and route.extracted is not None
        x.target = "extracted"
        try:
            if faults and route.fault is not None:
                response = await self._send_faulted(x)
            else:
                response = await self._send(x, route.extracted)
        except UpstreamError as exc:
            self._outcome(x, success=False)
            if self._may_fall_back(x, exc):
                # the answer the gateway would have given for it: 504 or 502
                failed = 504 if isinstance(exc, UpstreamTimeout) else 502
                await self._fall_back(send, x, type(exc).__name__, failed)
                return
            await self._upstream_failed(send, x, exc)
            return
        except BaseException:
            # cancelled (the client left) or a bug: no verdict on the upstream, but the
            # permit must go back or a half-open breaker would wait for it forever
            if x.breaker is not None and x.permit is not None:
                x.breaker.release(x.permit)
            raise
        self._outcome(x, success=response.status < 500)
        if response.status >= 500 and self._may_fall_back(x, None):
            await response.read()
            await self._fall_back(send, x, f"status-{response.status}", response.status)
            return
        await self._relay(send, x, response)

    @staticmethod
    def _outcome(x: Exchange, success: bool) -> None:
        if x.breaker is not None and x.permit is not None:
            x.breaker.record(x.permit, success)
            x.permit = None

    async def _fall_back(self, send: Send, x: Exchange, reason: str, failed: int) -> None:
        """Legacy answers in place of the extracted side, which failed with `failed`: the
        client never sees that failure, but a rollout gate must (an extracted 5xx)."""
        assert x.route is not None
        log.warning(
            "fallback to legacy (%s)", reason, extra={"route": x.route.name, "request_id": x.rid}
        )
        self._metrics.fallbacks.labels(x.route.name, reason).inc()
        x.side_started = now = time.perf_counter()
        self._signal(x, failed, now - x.started)
        await self._legacy(send, x)

    async def _send(
        self, x: Exchange, upstream_name: str, timeout_s: float | None = None
    ) -> UpstreamResponse:
        assert x.route is not None and x.table is not None
        return await self._upstream.send(
            x.method,
            x.table.upstreams[upstream_name] + x.url_tail,
            x.out_headers,
            x.body,
            x.route.timeout_s if timeout_s is None else timeout_s,
            x.route.connect_timeout_s,
        )

    async def _send_faulted(self, x: Exchange) -> UpstreamResponse:
        """The extracted side's answer through the route's fault, when it is active and this
        request draws it: a delay before sending (within the route's timeout: a longer one
        is a timeout), an abort in place of the upstream's answer. Whatever comes out takes
        the path a real one would: breaker, fallback rules, metrics, logs."""
        route = x.route
        assert route is not None and route.extracted is not None and route.fault is not None
        fault = route.fault
        if not fault.active(self._clock()) or not fault.draws(self._draw):
            return await self._send(x, route.extracted)
        x.fault = ", ".join(fault.kinds)
        for kind in fault.kinds:
            self._metrics.faults.labels(route.name, kind).inc()
        log.info("fault injected (%s)", x.fault, extra={"route": route.name, "request_id": x.rid})
        timeout_s = route.timeout_s
        if fault.delay_ms:
            delay_s = fault.delay_ms / 1000
            if delay_s >= timeout_s:
                await asyncio.sleep(timeout_s)
                raise UpstreamTimeout(
                    f"an injected {fault.delay_ms} ms delay, past the route's {timeout_s:g} s"
                )
            await asyncio.sleep(delay_s)
            timeout_s -= delay_s
        if fault.abort_status is not None:
            return _aborted(x, fault.abort_status)
        return await self._send(x, route.extracted, timeout_s)

    @staticmethod
    def _may_fall_back(x: Exchange, error: UpstreamError | None) -> bool:
        """Retry on legacy only when that cannot perform a write twice: the method is safe
        (RFC 9110 9.2.1), or the request never reached the extracted side (no connection).
        An `Idempotency-Key` does not count: legacy ignores it (SMELL(no-idempotency)), so a
        write the extracted side began and legacy then repeats is two writes."""
        assert x.route is not None and x.table is not None
        if not x.route.fallback or not isinstance(x.body, bytes):
            return False
        if x.route.legacy in x.table.retired:  # the table refuses this; never send there anyway
            return False
        return x.method in SAFE_METHODS or isinstance(error, UpstreamUnreachable)

    async def _relay(
        self, send: Send, x: Exchange, response: UpstreamResponse, capture: bool = False
    ) -> bytes | None:
        """Stream the answer to the client; with `capture`, also keep a copy (up to a bound)."""
        self._observe(x, response.status)
        headers = h.client_headers(response.headers, x.rid)
        if x.fault:
            headers.append((b"x-strangler-fault", x.fault.encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        kept: list[bytes] | None = [] if capture else None
        size = 0
        # Each chunk is sent when the next one arrives, so the last goes out together with
        # the end of the body: a small answer leaves in one write, not two.
        pending = b""
        try:
            async for chunk in response.body:
                if pending:
                    await send({"type": "http.response.body", "body": pending, "more_body": True})
                pending = chunk
                if kept is not None:
                    size += len(chunk)
                    kept = kept if size <= MAX_COMPARED_BYTES else None
                    if kept is not None:
                        kept.append(chunk)
        except UpstreamError as exc:
            # Headers are gone; the honest signal left is an incomplete body.
            log.error("upstream body failed midway: %s", exc, extra={"request_id": x.rid})
            raise
        finally:
            response.release()  # read to the end or not (the client left): the connection goes
        await send({"type": "http.response.body", "body": pending, "more_body": False})
        return b"".join(kept) if kept is not None else None

    def _observe(self, x: Exchange, status: int) -> None:
        now = time.perf_counter()
        route = x.route.name if x.route is not None else "none"
        self._metrics.observe(route, x.target, status, now - x.started)
        self._signal(x, status, now - (x.side_started or x.started))

    def _signal(self, x: Exchange, status: int, seconds: float) -> None:
        """A side's answer, for rollout gates: only on routes with an extracted side (the
        default route has none), and never for what the gateway refused before it chose a
        side (target "gateway": an ambiguous path, a body too large)."""
        route = x.route
        if (
            self._signals is not None
            and route is not None
            and route.extracted is not None
            and x.target != "gateway"
        ):
            self._signals.record(route.name, x.target, status, seconds)

    async def _upstream_failed(self, send: Send, x: Exchange, exc: UpstreamError) -> None:
        name = x.route.name if x.route else "none"
        log.warning(
            "%s upstream failed: %s",
            x.target,
            exc,
            extra={"route": name, "request_id": x.rid, "error": type(exc).__name__},
        )
        if x.method not in SAFE_METHODS and not isinstance(exc, UpstreamUnreachable):
            await self._outcome_unknown(send, x, exc)
        elif isinstance(exc, UpstreamTimeout):
            await self._problem(
                send, x, 504, "upstream-timeout", "Upstream timed out", f"route {name}: {exc}"
            )
        elif isinstance(exc, UpstreamUnreachable):
            await self._problem(
                send,
                x,
                502,
                "upstream-unreachable",
                "Upstream unreachable",
                f"route {name}: the {x.target} upstream refused the connection",
            )
        else:
            await self._problem(
                send,
                x,
                502,
                "upstream-failed",
                "Upstream failed",
                f"route {name}: the {x.target} upstream broke the connection",
            )

    async def _outcome_unknown(self, send: Send, x: Exchange, exc: UpstreamError) -> None:
        """A write reached an upstream that then failed to answer: it may have been carried
        out or not, and only the upstream's own records can tell (never a blind retry)."""
        assert x.route is not None
        timed_out = isinstance(exc, UpstreamTimeout)
        what = "did not answer in time" if timed_out else "broke the connection"
        detail = (
            f"route {x.route.name}: the {x.target} upstream {what} after receiving this "
            f"{x.method}, so it may or may not have been carried out; it was not sent again. "
            + (x.route.outcome_hint or _OUTCOME_HINT)
        )
        status, slug = (504, "outcome-unknown-timeout") if timed_out else (502, "outcome-unknown")
        await self._problem(send, x, status, slug, "Outcome unknown", detail, outcome="unknown")

    async def _retired(self, send: Send, x: Exchange, decision: Decision) -> None:
        """Legacy is retired (stopped): what it would have answered is answered here."""
        assert x.route is not None and x.table is not None
        if x.route is x.table.default:
            detail = (
                "no route serves this path, and legacy, which served every unmatched path, "
                "is retired"
            )
            await self._problem(send, x, 404, "legacy-retired", "Legacy retired", detail)
            return
        detail = (
            f"route {x.route.name!r} would send this request to legacy ({decision.reason}), "
            "and legacy is retired"
        )
        await self._problem(send, x, 503, "legacy-retired", "Legacy retired", detail)

    async def _problem(
        self,
        send: Send,
        x: Exchange,
        status: int,
        slug: str,
        title: str,
        detail: str,
        close: bool = False,
        **more: str,
    ) -> None:
        extra = {"request_id": x.rid, **more}
        if x.route is not None:
            extra["route"] = x.route.name
        status, body = problem(status, slug, title, detail, **extra)
        self._observe(x, status)
        headers = [
            CONTENT_TYPE,
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", x.rid.encode()),
        ]
        if close:
            headers.append((b"connection", b"close"))
        if x.fault:
            headers.append((b"x-strangler-fault", x.fault.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _refuse_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The same 400 problem where the server lets an app answer a handshake with HTTP
        (the ASGI websocket.http.response extension); else a refused handshake (403)."""
        if (await receive())["type"] != "websocket.connect":
            return
        rid = h.request_id(None)
        self._observe(Exchange(rid, "GET", time.perf_counter()), 400)
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})
            return
        _, body = problem(
            400, "websocket-unsupported", "WebSocket unsupported", _NO_WEBSOCKET, request_id=rid
        )
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 400,
                "headers": [CONTENT_TYPE, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})


_NO_WEBSOCKET = "this shop serves no WebSocket: send plain HTTP requests"

_OUTCOME_HINT = (
    "Read the resource back before retrying, or retry with the same Idempotency-Key where "
    "the API honours one."
)


def _aborted(x: Exchange, status: int) -> UpstreamResponse:
    """What an injected abort answers in place of the extracted upstream."""
    assert x.route is not None
    _, body = problem(
        status,
        "fault-injected",
        "Fault injected",
        f"route {x.route.name}: an operator's fault answered {status} in place of the "
        "extracted upstream, which was not contacted",
        route=x.route.name,
        request_id=x.rid,
    )

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    return UpstreamResponse(
        status,
        [("content-type", CONTENT_TYPE[1].decode()), ("content-length", str(len(body)))],
        chunks(),
    )


def _limit(limit: int) -> str:
    return f"bodies are limited to {limit} bytes"


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
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
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
