"""The admin listener: routes, changes, kill switch, audit, rollback, behind bearer tokens."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.schemas import SchemaGenerator

from gateway import changes, coexistence
from gateway.comparing import CompareRefused, compare_request
from gateway.faults import FaultError, ending, utc_now
from gateway.metrics import BREAKER_STATES
from gateway.parity import KEEP_MINUTES_S, WINDOW_S
from gateway.problems import problem
from gateway.rollouts import api as rollout_api
from gateway.rollouts.operations import Operations
from gateway.signals import KEEP_S as SIGNALS_KEEP_S
from new_services.outbox_relay.lag import Lag

if TYPE_CHECKING:
    from gateway.app import Gateway

Handler = Callable[[Request], Awaitable[Response]]
Retiring = Callable[..., Awaitable[changes.Change]]  # changes.retire or changes.unretire
log = logging.getLogger("gateway.admin")

schemas = SchemaGenerator(
    {"openapi": "3.0.0", "info": {"title": "strangler gateway admin API", "version": "1"}}
)


MAX_DEPTH = 32  # admin documents are shallow; a compared request's body included


def problem_response(status: int, slug: str, title: str, detail: str) -> Response:
    status, body = problem(status, slug, title, detail)
    return Response(body, status, media_type="application/problem+json")


def write_refused(request: Request) -> Response | None:
    """A state-changing call a browser made for another site, or with a body a browser's
    form could send, is refused (CSRF: with no token configured on loopback, a hostile page
    could otherwise POST /kill through the operator's browser)."""
    if request.headers.get("sec-fetch-site", "none") not in ("same-origin", "none"):
        return problem_response(
            403, "cross-site", "Cross-site request refused", "changes come from this origin only"
        )
    origin = request.headers.get("origin")
    if origin is not None and _authority(origin) != request.headers.get("host", "").lower():
        return problem_response(
            403,
            "cross-site",
            "Cross-site request refused",
            f"Origin {origin[:100]!r} is not this listener's origin",
        )
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        return problem_response(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as Content-Type: application/json",
        )
    return None


def _authority(origin: str) -> str | None:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return None
    return parts.netloc.lower() if parts.scheme in ("http", "https") else None


def check_document(document: Any) -> None:
    """Nested at most MAX_DEPTH deep, and every string (keys too) valid Unicode: a lone
    surrogate parses but cannot be stored, logged or sent on. Walked without recursion."""
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise changes.ChangeError(f"the body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise changes.ChangeError(
                    "the body holds a lone UTF-16 surrogate (an escape such as \\ud800 that "
                    "is not half of a pair): not text"
                ) from exc


def admin_app(gateway: Gateway) -> Starlette:
    tokens = dict(gateway.settings.admin_tokens)

    def actor(request: Request) -> str | None:
        """The name of the token the request carries, or None when it carries no valid one."""
        if not tokens:
            return "loopback"  # only possible on loopback: GatewaySettings.validate
        given = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
        for name, token in tokens.items():
            if hmac.compare_digest(given, token.encode()):
                return name
        return None

    def guarded(handler: Callable[[Request, str], Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            changing = request.method not in ("GET", "HEAD", "OPTIONS")
            refused = write_refused(request) if changing else None
            if refused is not None and refused.status_code == 403:
                return refused  # before the token: with or without one configured
            name = actor(request)
            if name is None:
                return problem_response(
                    401, "unauthorised", "Unauthorised", "send Authorization: Bearer <token>"
                )
            if refused is not None:
                return refused
            try:
                return await handler(request, name)
            except changes.ChangeError as exc:
                return problem_response(exc.status, "invalid-change", "Change refused", str(exc))
            except RedisError as exc:
                return problem_response(
                    503, "route-store-unavailable", "Route store unavailable", str(exc)
                )

        endpoint.__doc__ = handler.__doc__
        return endpoint

    async def body(request: Request) -> dict[str, Any]:
        try:
            document = json.loads(await request.body() or b"{}")
        except RecursionError as exc:  # thousands of [ deep: json's own limit
            raise changes.ChangeError(f"the body is nested deeper than {MAX_DEPTH} levels") from exc
        except ValueError as exc:
            raise changes.ChangeError("the body must be a JSON object") from exc
        if not isinstance(document, dict):
            raise changes.ChangeError("the body must be a JSON object")
        check_document(document)
        return document

    async def read_model_lag() -> dict[str, Lag] | None:
        return await gateway.read_model_lag()

    def reason(document: dict[str, Any]) -> str:
        return changes.valid_reason(document.pop("reason", None))

    def forced(document: dict[str, Any]) -> bool:
        force = document.pop("force", False)
        if not isinstance(force, bool):
            raise changes.ChangeError("'force' must be true or false")
        return force

    async def coexisting(
        moves: dict[str, dict[str, Any]], force: bool
    ) -> list[coexistence.Blocked]:
        """The routes of one change that the coexistence guard blocks (gateway/coexistence.py):
        the whole change is refused (409) unless forced, and then they go into its entry."""
        max_lag_s = gateway.settings.read_model_max_lag_s
        live = gateway.live
        lags = await read_model_lag()
        blocked = coexistence.check_all(live.seed_table, live.current, moves, lags, max_lag_s)
        if blocked and not force:
            raise changes.ChangeError(" ".join(b.message(max_lag_s) for b in blocked), 409)
        return blocked

    async def healthz(_request: Request) -> Response:
        """Liveness, the table version, and whether the route store is reachable."""
        live = gateway.live
        healthy = live.store_up
        return JSONResponse(
            {
                "status": "ok" if healthy else "degraded",
                "table_version": live.current.version,
                "route_store": "up" if healthy else f"down: {live.last_error}",
                # a stored version this gateway will not serve (no audit entry, unknown
                # upstream, unreadable): someone wrote the store around the admin API
                **({"refused_version": live.refused} if live.refused is not None else {}),
            }
        )

    async def list_routes(_request: Request, _actor: str) -> Response:
        """
        responses:
          200: {description: The live table with every route's settings.}
        """
        return JSONResponse(gateway.live.current.to_dict())

    async def show_route(request: Request, _actor: str) -> Response:
        """
        responses:
          200: {description: One route.}
          404: {description: No such route.}
        """
        route = gateway.live.current.get(request.path_params["name"])
        if route is None:
            raise changes.ChangeError(f"no route named {request.path_params['name']!r}", 404)
        return JSONResponse(route.to_dict())

    async def set_route(request: Request, who: str) -> Response:
        """
        summary: Change a route's mode, weight or other settings. Body = settings + reason.
        responses:
          200: {description: The audit entry of the new version.}
          400: {description: Unknown setting or missing reason.}
          404: {description: No such route.}
          409: {description: "The route would serve a read model that misses writes legacy
            still takes (the message names the routes that block it and what unblocks it);
            `force: true` overrides, audited."}
          422: {description: The resulting route is invalid (bad mode, weight, URL...).}
        """
        document = await body(request)
        why = reason(document)
        force = forced(document)
        name = request.path_params["name"]
        blocked = await coexisting({name: document}, force)
        noted = {"forced": blocked[0].state} if blocked else None
        change = await changes.set_route(
            gateway.store,
            name,
            document,
            upstreams=gateway.live.upstreams,
            actor=who,
            reason=why,
            noted=noted,
        )
        await gateway.live.refresh()
        return JSONResponse(change.audit)

    async def list_groups(_request: Request, _actor: str) -> Response:
        """
        summary: The route groups, each with its members' mode and weight.
        responses:
          200: {description: "The groups of the live table: name, routes, sticky_key, salt,
            members."}
        """
        table = gateway.live.current
        groups = [
            {
                **group.to_dict(),
                "members": [
                    {"name": route.name, "mode": route.mode.value, "weight": route.weight}
                    for route in map(table.get, group.routes)
                    if route is not None
                ],
            }
            for group in table.groups
        ]
        return JSONResponse({"version": table.version, "groups": groups})

    async def set_group(request: Request, who: str) -> Response:
        """
        summary: The same settings on every route of a group, in one version with one audit
          entry. Body = settings + reason (+ force).
        responses:
          200: {description: The audit entry of the new version (before/after per route).}
          400: {description: Unknown setting or missing reason.}
          404: {description: No such group.}
          409: {description: "The coexistence guard blocks a member (the message names it and
            what unblocks it): nothing moves; `force: true` overrides, audited."}
          422: {description: "A member would be invalid, or the setting is the group's."}
        """
        document = await body(request)
        why = reason(document)
        force = forced(document)
        name = request.path_params["name"]
        group = gateway.live.current.group(name)
        if group is None:
            raise changes.ChangeError(f"no group named {name!r}", 404)
        blocked = await coexisting({member: document for member in group.routes}, force)
        noted = {"forced": {b.route: b.state for b in blocked}} if blocked else None
        change = await changes.set_group(
            gateway.store,
            name,
            document,
            upstreams=gateway.live.upstreams,
            actor=who,
            reason=why,
            noted=noted,
        )
        await gateway.live.refresh()
        return JSONResponse(change.audit)

    async def set_fault(request: Request, who: str) -> Response:
        """
        summary: Inject a fault into a share of a route's extracted requests, for a while.
          Body = {percent, delay_ms?, abort_status?, for_s, reason}; audited as a change of
          the route's `fault` setting.
        responses:
          200: {description: The audit entry of the new version.}
          400: {description: Unknown field, missing reason, or for_s not from 1 to 86400.}
          404: {description: No such route.}
          422: {description: The fault is invalid (percent, delay_ms or abort_status).}
        """
        document = await body(request)
        why = reason(document)
        unknown = set(document) - {"percent", "delay_ms", "abort_status", "for_s"}
        if unknown:
            raise changes.ChangeError(
                f"unknown field(s) {', '.join(sorted(unknown))}; a fault takes percent, "
                "delay_ms, abort_status, for_s and reason"
            )
        try:
            until = ending(utc_now(), document.pop("for_s", None))
        except FaultError as exc:
            raise changes.ChangeError(str(exc)) from exc
        return await change_fault(
            request.path_params["name"], {**document, "until": until}, who, why
        )

    async def clear_fault(request: Request, who: str) -> Response:
        """
        summary: End a route's fault now. Body = {reason}; audited.
        responses:
          200: {description: The audit entry of the new version.}
          404: {description: No such route.}
          409: {description: The route has no fault.}
        """
        why = reason(await body(request))
        name = request.path_params["name"]
        route = gateway.live.current.get(name)
        if route is not None and route.fault is None:
            raise changes.ChangeError(f"route {name!r} has no fault to clear", 409)
        return await change_fault(name, None, who, why)

    async def change_fault(name: str, fault: dict[str, Any] | None, who: str, why: str) -> Response:
        change = await changes.set_route(
            gateway.store,
            name,
            {"fault": fault},
            upstreams=gateway.live.upstreams,
            actor=who,
            reason=why,
        )
        await gateway.live.refresh()
        return JSONResponse(change.audit)

    async def kill(request: Request, who: str) -> Response:
        """
        summary: Kill switch. Every route to legacy in one change. Body = {reason}.
        responses:
          200: {description: The audit entry.}
        """
        why = reason(await body(request))
        change = await changes.kill(
            gateway.store, upstreams=gateway.live.upstreams, actor=who, reason=why
        )
        await gateway.live.refresh()
        return JSONResponse(change.audit)

    async def retire(request: Request, who: str) -> Response:
        """
        summary: Retire an upstream (legacy). No request goes to it from this version on; the
          default route answers 404 legacy-retired. Body = {upstream, reason}.
        responses:
          200: {description: The audit entry.}
          409: {description: A route could still send to it (each named), or it is retired.}
        """
        return await retiring(request, who, changes.retire)

    async def unretire(request: Request, who: str) -> Response:
        """
        summary: Undo a retire (start the upstream first). Body = {upstream, reason}.
        responses:
          200: {description: The audit entry.}
          409: {description: It is not retired.}
        """
        return await retiring(request, who, changes.unretire)

    async def retiring(request: Request, who: str, change_of: Retiring) -> Response:
        document = await body(request)
        upstream = document.get("upstream")
        if not isinstance(upstream, str) or not upstream:
            raise changes.ChangeError("'upstream' must name an upstream, such as \"legacy\"")
        change = await change_of(
            gateway.store,
            upstream,
            upstreams=gateway.live.upstreams,
            actor=who,
            reason=reason(document),
        )
        await gateway.live.refresh()
        return JSONResponse(change.audit)

    async def rollback(request: Request, who: str) -> Response:
        """
        summary: Restore the table as it was at an earlier version. Body = {version, reason}.
        responses:
          200: {description: The audit entry.}
          404: {description: No such version.}
        """
        document = await body(request)
        version = document.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise changes.ChangeError("'version' must be a positive integer")
        change = await changes.rollback(
            gateway.store,
            version,
            upstreams=gateway.live.upstreams,
            actor=who,
            reason=reason(document),
        )
        await gateway.live.refresh()
        return JSONResponse(change.audit)

    async def audit(request: Request, _actor: str) -> Response:
        """
        summary: The audit log, oldest first. Query limit (default 100, at most 10000).
        responses:
          200: {description: Audit entries.}
        """
        raw = request.query_params.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
            raise changes.ChangeError("limit must be an integer from 1 to 10000")
        return JSONResponse({"entries": await gateway.store.audit(int(raw))})

    async def parity(request: Request, _actor: str) -> Response:
        """
        summary: Shadow parity per route (all instances), in total since the route's last
          reset, over a recent window (query window, seconds, default 300) and per table
          version, with noise calibration beside it. Query route narrows it to one route.
        responses:
          200: {description: "Counters, parity and noise rates per route."}
        """
        raw = request.query_params.get("window", str(WINDOW_S))
        if not raw.isdigit() or not 60 <= int(raw) <= KEEP_MINUTES_S:
            raise changes.ChangeError(f"window must be an integer from 60 to {KEEP_MINUTES_S}")
        figures = await gateway.parity.figures(int(raw))
        route = request.query_params.get("route")
        if route is not None:
            if gateway.live.current.get(route) is None:
                raise changes.ChangeError(f"no route named {route!r}", 404)
            figures = {route: figures[route]} if route in figures else {}
        return JSONResponse({"table_version": gateway.live.current.version, "routes": figures})

    async def signals(request: Request, _actor: str) -> Response:
        """
        summary: A route's signals over the last `window` seconds (default 60, at most
          3600), summed over every instance - per side (legacy, extracted) requests, by
          status class, errors (5xx, an extracted failure that fell back to legacy
          included), error rate, p50 and p99 in ms - and shadow parity.
        responses:
          200: {description: "{route, window_s, sides: {legacy, extracted}, parity}"}
          400: {description: No route named, or a window that is not 1 to 3600 seconds.}
          404: {description: No such route.}
        """
        route = request.query_params.get("route")
        if not route:
            raise changes.ChangeError("name a route: /signals?route=NAME")
        raw = request.query_params.get("window", "60")
        if not raw.isdigit() or not 1 <= int(raw) <= SIGNALS_KEEP_S:
            raise changes.ChangeError(
                f"window must be a whole number of seconds from 1 to {SIGNALS_KEEP_S}, "
                f"not {raw[:40]!r}"
            )
        if gateway.live.current.get(route) is None:
            raise changes.ChangeError(f"no route named {route!r}", 404)
        end = time.time()
        figures = await gateway.signal_store.window(route, end - int(raw), end)
        return JSONResponse({**figures.to_dict(), "window_s": int(raw)})

    async def reset_parity(request: Request, who: str) -> Response:
        """
        summary: Start a route's parity figures, noise and samples afresh. Body = {reason}.
          Audited, and the entry keeps the figures that were set aside.
        responses:
          200: {description: The audit entry.}
          404: {description: No such route.}
        """
        name = request.path_params["route"]
        why = reason(await body(request))
        if gateway.live.current.get(name) is None:
            raise changes.ChangeError(f"no route named {name!r}", 404)
        before = (await gateway.parity.figures()).get(name, {})
        kept = {k: v for k, v in before.items() if k not in ("window", "versions")}
        change = await changes.reset_parity(
            gateway.store, name, kept, upstreams=gateway.live.upstreams, actor=who, reason=why
        )
        await gateway.parity.reset(name)
        await gateway.live.refresh()
        return JSONResponse(change.audit)

    async def mismatches(request: Request, _actor: str) -> Response:
        """
        summary: The newest mismatch samples of a route (request, both answers, the diff).
        responses:
          200: {description: Samples, newest first.}
        """
        route = request.query_params.get("route", "")
        if gateway.live.current.get(route) is None:
            raise changes.ChangeError(f"no route named {route!r}", 404)
        raw = request.query_params.get("limit", "20")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise changes.ChangeError("limit must be an integer from 1 to 100")
        return JSONResponse({"samples": await gateway.parity.samples(route, int(raw))})

    async def compare_once(request: Request, _actor: str) -> Response:
        """
        summary: Send one request to both targets of its route and diff the answers.
          Body = {method, path, body?, headers?}. A write goes to the extracted side only as
          a dry run, and only where the route declares dry-run support.
        responses:
          200: {description: Both answers and the differences.}
          409: {description: The request cannot be sent to the extracted side safely.}
        """
        document = await body(request)
        try:
            result = await compare_request(gateway, document)
        except CompareRefused as exc:
            raise changes.ChangeError(str(exc), exc.status) from exc
        return JSONResponse(result)

    async def breakers(_request: Request, _actor: str) -> Response:
        """
        summary: Every circuit breaker of this instance (route, upstream, state, counts).
        responses:
          200: {description: Breaker states.}
        """
        return JSONResponse({"breakers": gateway.breakers.snapshot()})

    async def reset_breaker(request: Request, who: str) -> Response:
        """
        summary: Close one breaker of this instance now. Body = {reason}.
        responses:
          200: {description: Closed.}
          404: {description: No such breaker.}
        """
        why = reason(await body(request))
        route, upstream = request.path_params["route"], request.path_params["upstream"]
        if not gateway.breakers.reset(route, upstream):
            raise changes.ChangeError(f"no breaker for {route}/{upstream}", 404)
        log.warning("breaker %s/%s reset by %s: %s", route, upstream, who, why)
        return JSONResponse({"route": route, "upstream": upstream, "state": "closed"})

    async def metrics(_request: Request) -> Response:
        live = gateway.live
        gateway.metrics.table_version.set(live.current.version)
        gateway.metrics.store_up.set(1 if live.store_up else 0)
        for entry in gateway.breakers.snapshot():
            state = BREAKER_STATES[entry["state"]]
            gateway.metrics.breaker.labels(entry["route"], entry["upstream"]).set(state)
        return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return JSONResponse(schemas.get_schema(routes=request.app.routes))

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/routes", guarded(list_routes), methods=["GET"]),
        Route("/routes/{name}", guarded(show_route), methods=["GET"]),
        Route("/routes/{name}", guarded(set_route), methods=["PATCH"]),
        Route("/groups", guarded(list_groups), methods=["GET"]),
        Route("/groups/{name}", guarded(set_group), methods=["PATCH"]),
        Route("/routes/{name}/fault", guarded(set_fault), methods=["PUT"]),
        Route("/routes/{name}/fault", guarded(clear_fault), methods=["DELETE"]),
        Route("/kill", guarded(kill), methods=["POST"]),
        Route("/rollback", guarded(rollback), methods=["POST"]),
        Route("/retire", guarded(retire), methods=["POST"]),
        Route("/unretire", guarded(unretire), methods=["POST"]),
        Route("/audit", guarded(audit), methods=["GET"]),
        Route("/parity", guarded(parity), methods=["GET"]),
        Route("/parity/{route}/reset", guarded(reset_parity), methods=["POST"]),
        Route("/signals", guarded(signals), methods=["GET"]),
        Route("/mismatches", guarded(mismatches), methods=["GET"]),
        Route("/compare", guarded(compare_once), methods=["POST"]),
        Route("/breakers", guarded(breakers), methods=["GET"]),
        Route("/breakers/{route}/{upstream}/reset", guarded(reset_breaker), methods=["POST"]),
        *rollout_api.routes(
            Operations(gateway.rollouts, gateway.tables), guarded, body, gateway.live.refresh
        ),
        Route("/metrics", metrics, methods=["GET"], include_in_schema=False),
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
    ]
    return Starlette(routes=routes)
