"""OpenTelemetry tracing: one checkout is one trace, from the gateway through the services,
the outbox relay and the workers.

The context crosses every hop in W3C Trace Context form (`traceparent`): in HTTP headers
(`TraceRequests` reads it, `inject_into_request` writes it on httpx calls), and through
the outbox in the event itself (`carrier()` when the event is written, `continued()` in
the relay and in each job), because the relay and the worker run long after the request
that caused them.

`configure(service)` picks the exporter from `OTEL_TRACES_EXPORTER`: `none` (the default:
the API's no-op tracer, which costs next to nothing), `console`, or `otlp` (needs the
`opentelemetry-exporter-otlp-proto-http` package: the `otlp` extra, which the docker image
installs; `OTEL_EXPORTER_OTLP_ENDPOINT` says where). Tests install an in-memory exporter instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import httpx
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from new_services.platform import logs

log = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M", bound=Mapping[str, Any])
TRACER = "strangler-kit"


class TracingError(ValueError):
    """OTEL_TRACES_EXPORTER names an exporter that cannot be used here."""


_configured: list[str] = []  # the service this process was configured for, once


def configure(service: str, environ: Mapping[str, str] = os.environ) -> None:
    """Install a tracer provider for this process, exporting as the environment says (once
    per process: the first service to ask names it)."""
    choice = environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if choice == "none" or _configured:
        return
    exporter: SpanExporter
    if choice == "console":
        exporter = ConsoleSpanExporter()
    elif choice == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
        except ImportError as exc:
            raise TracingError(
                "OTEL_TRACES_EXPORTER=otlp needs the opentelemetry-exporter-otlp-proto-http "
                "package (`pip install opentelemetry-exporter-otlp-proto-http`)"
            ) from exc
        exporter = OTLPSpanExporter()
    else:
        raise TracingError(f"OTEL_TRACES_EXPORTER must be none, console or otlp, not {choice!r}")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured.append(service)


_provider: list[trace.TracerProvider] = []  # set by `record_with` (tests), else the global


def tracer() -> trace.Tracer:
    provider = _provider[-1] if _provider else trace.get_tracer_provider()
    return provider.get_tracer(TRACER)


@contextmanager
def record_with(provider: trace.TracerProvider) -> Iterator[None]:
    """Trace with `provider` meanwhile (a test's in-memory exporter), without touching the
    process-wide provider, which OpenTelemetry lets a process set only once."""
    _provider.append(provider)
    try:
        yield
    finally:
        _provider.remove(provider)


def carrier() -> dict[str, str]:
    """The current trace context, to travel with a message (an outbox event, a job)."""
    found: dict[str, str] = {}
    propagate.inject(found)
    return found


@contextmanager
def continued(name: str, context: Mapping[str, str] | None, kind: SpanKind) -> Iterator[Span]:
    """A span that continues the trace `context` came from (a fresh trace without one)."""
    parent = propagate.extract(dict(context or {}))
    with tracer().start_as_current_span(name, context=parent, kind=kind) as span:
        yield span


def traced_job(name: str) -> Callable[[Callable[[M], T]], Callable[[M], T]]:
    """An RQ job handler that continues the trace of the event it handles."""

    def decorate(handler: Callable[[M], T]) -> Callable[[M], T]:
        @wraps(handler)
        def run(message: M) -> T:
            with continued(name, message.get("trace"), SpanKind.CONSUMER) as span:
                span.set_attribute("messaging.message.id", str(message.get("id", "")))
                return handler(message)

        return run

    return decorate


async def inject_into_request(request: httpx.Request) -> None:
    """An httpx request hook: the call carries the current trace to the next service."""
    propagate.inject(request.headers)


class TraceRequests:
    """ASGI middleware: a server span per request, continuing the caller's trace. With
    `forward` (a proxy), the request also goes on carrying this span as its parent."""

    def __init__(self, app: ASGIApp, service: str, forward: bool = False) -> None:
        self._app = app
        self._service = service
        self._forward = forward

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        logs.request_id.set(headers.get("x-request-id"))  # for every log line of the request
        with continued(f"{self._service} {method}", headers, SpanKind.SERVER) as span:
            if self._forward:
                scope = {**scope, "headers": _with_current_context(scope["headers"])}

            async def recorded(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            try:
                await self._app(scope, receive, recorded)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)


_CONTEXT_HEADERS = (b"traceparent", b"tracestate")


def _with_current_context(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with the trace context replaced by the current span's."""
    kept = [(k, v) for k, v in headers if k.lower() not in _CONTEXT_HEADERS]
    return kept + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in carrier().items()]
