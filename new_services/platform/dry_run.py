"""Dry runs a service honours only when the gateway (or a service it asked) proves it asked.

A dry run (`X-Strangler-Shadow: dry-run`) checks and answers a write and keeps nothing: the
gateway mirrors writes that way to compare the extracted side with legacy. Anyone who can
reach a service could send that header, so the header carries a proof:

    X-Strangler-Shadow: dry-run; t=<unix seconds>; sig=<hex HMAC-SHA256>

signed with the key the gateway and the services share (`STRANGLER_DRY_RUN_KEY`) over the
moment, the method and the target (path and query) of this very request, so a proof is good
for one request for `MAX_AGE_S` only. A service answers 403 `dry-run-unproven` to a dry run
it cannot prove, whatever its method, and does nothing: a forged dry run is neither honoured
nor turned into a real write. With no key set, every dry run is refused.

What a signature cannot do is make a header appear: a mirror whose header a proxy stripped
would reach the service as a real write. The gateway guards that side: a dry run's answer
must say it was one (`X-Strangler-Dry-Run: true`), and one that does not is counted and
logged as `not_dry_run` (gateway/shadow.py).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from new_services.platform import v1
from new_services.platform.http import DRY_RUN_PROVEN
from new_services.platform.problems import Problem, problem_response

HEADER = "x-strangler-shadow"
ANSWER = b"x-strangler-dry-run"  # "true" on every answer to a proven dry run
MAX_AGE_S = 60  # a proof older (or further ahead) than this is refused: it may be a replay


class DryRunUnproven(Problem):
    status, slug, title = 403, "dry-run-unproven", "The dry run is not proven"


def _signature(key: str, moment: int, method: str, target: str) -> str:
    signed = f"{moment}\n{method.upper()}\n{target}".encode()
    return hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()


def sign(key: str, method: str, target: str, now: float | None = None) -> str:
    """The header value that proves a dry run of `method target` (path and query)."""
    moment = int(time.time() if now is None else now)
    return f"dry-run; t={moment}; sig={_signature(key, moment, method, target)}"


def proven(key: str | None, value: str, method: str, target: str, now: float) -> bool:
    """`value` is a proof, made with `key` within MAX_AGE_S of `now`, of this request."""
    if not key:
        return False
    kind, _, rest = value.partition(";")
    if kind.strip().lower() != "dry-run":
        return False
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(";"))
    moment, signature = fields.get("t", ""), fields.get("sig", "")
    if not (moment.isascii() and moment.isdigit() and len(moment) <= 12):
        return False
    if abs(now - int(moment)) > MAX_AGE_S:
        return False
    expected = _signature(key, int(moment), method, target)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def target_of(scope: Scope) -> str:
    """The path and query the request was sent to, as the signer wrote them."""
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    target = bytes(raw) + (b"?" + bytes(query) if query else b"")
    return target.decode("latin-1")


class ProveDryRuns:
    """Let a proven dry run through (marked in the scope), refuse an unproven one."""

    def __init__(
        self, app: ASGIApp, key: str | None, clock: Callable[[], float] = time.time
    ) -> None:
        self._app = app
        self._key = key
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        values = [v for n, v in scope["headers"] if n.lower() == HEADER.encode()]
        if not values:
            await self._app(scope, receive, send)
            return
        value = values[0].decode("latin-1")
        if len(values) == 1 and proven(
            self._key, value, scope["method"], target_of(scope), self._clock()
        ):
            scope.setdefault("state", {})[DRY_RUN_PROVEN] = True

            async def marked(message: Message) -> None:
                # every answer to a proven dry run says it is one, its refusals (4xx) and
                # failures too: the gateway compares only answers that say so
                if message["type"] == "http.response.start":
                    headers = [(n, v) for n, v in message.get("headers", []) if n.lower() != ANSWER]
                    message = {**message, "headers": [*headers, (ANSWER, b"true")]}
                await send(message)

            await self._app(scope, receive, marked)
            return
        problem = DryRunUnproven(
            "this service runs a dry run only when the gateway signed it "
            "(X-Strangler-Shadow: dry-run; t=...; sig=...)"
        )
        if v1.is_v1(scope["path"]):
            response = v1.error_response(403, "dry_run_unproven", problem.detail)
        else:
            response = problem_response(problem)
        await response(scope, receive, send)
