"""Every process logs JSON lines that lead back to their request and their trace."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from new_services.platform import logs, tracing


def a_record(message: str = "hold %s stays held", *args: object) -> logging.LogRecord:
    return logging.LogRecord("orders", logging.WARNING, __file__, 1, message, args, None)


def test_a_line_inside_a_request_names_its_request_trace_and_span() -> None:
    token = logs.request_id.set("req-42")
    try:
        with (
            tracing.record_with(TracerProvider()),
            tracing.tracer().start_as_current_span("x") as span,
        ):
            line = json.loads(logs.JsonFormatter().format(a_record("hold %s", "h1")))
            context = span.get_span_context()
    finally:
        logs.request_id.reset(token)

    assert line["message"] == "hold h1" and line["level"] == "warning"
    assert line["request_id"] == "req-42"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_a_line_outside_any_request_has_no_ids_but_keeps_its_extras() -> None:
    record = a_record()
    record.route = "orders"
    line = json.loads(logs.JsonFormatter().format(record))

    assert "request_id" not in line and "trace_id" not in line
    assert line["route"] == "orders"
