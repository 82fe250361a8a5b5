"""The listeners' HTTP/1.1 connections: uvicorn's httptools protocol with read timeouts.

uvicorn waits for ever for a request's headers and body (its keep-alive timeout only
runs between requests), so a client that opens connections and sends nothing, or a byte
now and then (slowloris), holds them all. Here:

- a connection whose request headers are not all in `header_timeout_s` after it opened
  (or after the first byte of a later request) is closed; with 408 and a problem when part
  of a request came, silently when nothing did (a 408 on an idle keep-alive connection
  could be read as the answer to a request sent at that moment);
- a request body not all in `body_timeout_s` after its headers gets 408 and a problem,
  and the connection is closed (or only closed, when the answer has begun);
- a request the parser refuses gets a 400 problem instead of uvicorn's text/plain;
- an upgrade the gateway does not serve closes the connection after its answer (the
  parser reads no more of it as HTTP) instead of logging two warnings per request.

The timers are armed only while a request is incomplete after a read: a request that
arrives whole in one read (nearly all of them) arms none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.problems import problem

Refused = Callable[[int], None]  # a status the listener answered by itself


def _answer(status: int, slug: str, title: str, detail: str) -> bytes:
    status, body = problem(status, slug, title, detail)
    reason = {400: b"Bad Request", 408: b"Request Timeout"}[status]
    return (
        b"HTTP/1.1 %d %b\r\ncontent-type: application/problem+json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%b"
    ) % (status, reason, len(body), body)


HEADERS_LATE = _answer(
    408, "header-timeout", "Request headers too slow", "the request headers did not arrive in time"
)
BODY_LATE = _answer(
    408, "body-timeout", "Request body too slow", "the request body did not arrive in time"
)


def timed_protocol(
    header_timeout_s: float, body_timeout_s: float, refused: Refused | None = None
) -> type[HttpToolsProtocol]:
    """uvicorn's `http=` protocol class for a listener with these read timeouts."""

    class TimedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_headers = False  # part of a request's head has arrived, not all of it
            self._in_body = False
            self._headers_timer: asyncio.TimerHandle | None = None
            self._body_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._headers_timer = self.loop.call_later(header_timeout_s, self._headers_late)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_timers()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.transport.is_closing():
                return
            if self._in_headers and self._headers_timer is None:
                self._headers_timer = self.loop.call_later(header_timeout_s, self._headers_late)
            if self._in_body and self._body_timer is None:
                self._body_timer = self.loop.call_later(body_timeout_s, self._body_late)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_headers = True

        def on_headers_complete(self) -> None:
            self._in_headers, self._in_body = False, True
            if self._headers_timer is not None:
                self._headers_timer.cancel()
                self._headers_timer = None
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_body = False
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None
            super().on_message_complete()

        def send_400_response(self, msg: str) -> None:
            self._refuse(
                _answer(400, "malformed-request", "Malformed request", msg.rstrip(".")), 400
            )

        def _unsupported_upgrade_warning(self) -> None:
            if self.cycle is not None:
                self.cycle.keep_alive = False

        def _headers_late(self) -> None:
            self._headers_timer = None
            if self.transport.is_closing():
                return
            if self._in_headers:
                self._refuse(HEADERS_LATE, 408)
            else:
                self.transport.close()  # nothing of a request came: no one to answer

        def _body_late(self) -> None:
            self._body_timer = None
            cycle = self.cycle
            if self.transport.is_closing() or cycle is None:
                return
            if cycle.response_started:
                self.transport.close()  # too late for a 408: the answer has begun
                return
            # The request's app sees a disconnect, as when a client leaves mid-body, and
            # its answer goes nowhere: this 408 is the answer.
            cycle.disconnected = True
            cycle.message_event.set()
            self._refuse(BODY_LATE, 408)

        def _refuse(self, answer: bytes, status: int) -> None:
            self._cancel_timers()
            self.transport.write(answer)
            self.transport.close()
            if refused is not None:
                refused(status)

        def _cancel_timers(self) -> None:
            for timer in (self._headers_timer, self._body_timer):
                if timer is not None:
                    timer.cancel()
            self._headers_timer = self._body_timer = None

    return TimedHttpToolsProtocol
