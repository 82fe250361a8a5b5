"""Tracing at the gateway: a span per request, and the upstream told it is the parent.

On when `OTEL_TRACES_EXPORTER` names an exporter (`new_services/platform/tracing.py`
configures the process); off by default, and then this middleware is not even installed,
so the proxy's hot path pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from gateway.proxy import Receive, Scope, Send
from new_services.platform.tracing import continued

_CONTEXT_HEADERS = (b"traceparent", b"tracestate")


App = Callable[[Scope, Receive, Send], Awaitable[None]]


class TraceForwarded:
    def __init__(self, app: App) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        incoming = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with continued(f"gateway {scope['method']}", incoming, SpanKind.SERVER) as span:
            ours: dict[str, str] = {}
            propagate.inject(ours)  # the gateway's span becomes the upstream's parent
            headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _CONTEXT_HEADERS]
            headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in ours.items()]

            async def recorded(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self._app({**scope, "headers": headers}, receive, recorded)
