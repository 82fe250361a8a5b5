"""Composition root: builds the route table, the upstream client, the public and admin apps."""

from __future__ import annotations

import hmac
import tomllib
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from gateway.problems import problem
from gateway.proxy import Proxy, ProxyConfig, Receive, Scope, Send
from gateway.routes import RouteTable, RouteTableError
from gateway.settings import GatewaySettings
from gateway.upstream import AiohttpUpstream, Upstream


def load_table(settings: GatewaySettings) -> RouteTable:
    """The seed table from the routes file, with per-machine upstream URLs applied."""
    try:
        raw: dict[str, Any] = tomllib.loads(settings.routes_file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RouteTableError(f"cannot read {settings.routes_file}: {exc}") from exc
    raw.setdefault("upstreams", {}).update(dict(settings.upstream_overrides))
    return RouteTable.from_dict(raw, version=1)


@dataclass
class Gateway:
    settings: GatewaySettings
    table: RouteTable
    upstream: Upstream

    def current_table(self) -> RouteTable:
        return self.table

    @property
    def public(self) -> PublicApp:
        return PublicApp(self)

    @property
    def admin(self) -> Starlette:
        return admin_app(self)


class PublicApp:
    """The public listener: the proxy, plus a lifespan that closes the upstream pool."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._proxy = Proxy(
            gateway.current_table,
            gateway.upstream,
            ProxyConfig(
                max_body_bytes=gateway.settings.max_body_bytes,
                internal_token=gateway.settings.internal_token,
            ),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self._gateway.upstream.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self._proxy(scope, receive, send)


def admin_app(gateway: Gateway) -> Starlette:
    """The admin listener: health without a token; everything else behind the bearer token."""

    def authorised(request: Request) -> bool:
        expected = gateway.settings.admin_token
        given = request.headers.get("authorization", "")
        if not expected:
            return True  # only allowed on loopback (GatewaySettings.validate)
        return hmac.compare_digest(given.encode(), f"Bearer {expected}".encode())

    def unauthorised() -> Response:
        status, body = problem(
            401, "unauthorised", "Unauthorised", "send Authorization: Bearer <token>"
        )
        return Response(body, status, media_type="application/problem+json")

    async def healthz(_request: Request) -> JSONResponse:
        table = gateway.current_table()
        return JSONResponse({"status": "ok", "table_version": table.version})

    async def routes(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        return JSONResponse(gateway.current_table().to_dict())

    return Starlette(routes=[HttpRoute("/healthz", healthz), HttpRoute("/routes", routes)])


def create_gateway(settings: GatewaySettings, upstream: Upstream | None = None) -> Gateway:
    return Gateway(
        settings=settings, table=load_table(settings), upstream=upstream or AiohttpUpstream()
    )
