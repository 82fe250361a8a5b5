"""`python -m gateway`: the public and admin listeners in one process, one event loop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import uvicorn

from gateway import logs
from gateway.app import create_gateway
from gateway.listener import timed_protocol
from gateway.routes import RouteTableError
from gateway.settings import GatewaySettings, GatewaySettingsError
from new_services.platform import tracing


async def serve(settings: GatewaySettings) -> None:
    tracing.configure("gateway")
    gateway = create_gateway(settings)
    observe = gateway.metrics.observe
    public_protocol = timed_protocol(
        settings.header_timeout_s,
        settings.body_timeout_s,
        refused=lambda status: observe("none", "gateway", status, 0.0),
    )
    admin_protocol = timed_protocol(settings.header_timeout_s, settings.body_timeout_s)
    public = uvicorn.Server(
        uvicorn.Config(
            gateway.public,
            host=settings.host,
            port=settings.port,
            access_log=False,
            lifespan="on",
            http=public_protocol,  # read timeouts, problem+json for unparseable requests
            log_config=None,  # gateway.logs: JSON lines
            timeout_graceful_shutdown=5,
            server_header=False,
            # X-Forwarded-For is the gateway's own business (gateway/headers.py): uvicorn
            # must not rewrite the client address from it, or the address appears twice
            proxy_headers=False,
            date_header=False,  # the upstream's own headers pass through
            ws="none",  # no WebSocket behind the gateway: an upgrade gets a 400 problem (proxy.py)
        )
    )
    admin = uvicorn.Server(
        uvicorn.Config(
            gateway.admin,
            host=settings.admin_host,
            port=settings.admin_port,
            access_log=False,
            lifespan="off",
            http=admin_protocol,
            log_config=None,
            ws="none",
        )
    )

    async def run(server: uvicorn.Server, other: uvicorn.Server) -> None:
        # Each uvicorn server captures SIGTERM for itself; whichever stops first stops the other.
        try:
            await server.serve()
        finally:
            other.should_exit = True

    await asyncio.gather(run(public, admin), run(admin, public))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (not on Windows), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> None:
    logs.configure()
    try:
        settings = GatewaySettings.from_env()
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(settings))
    except (GatewaySettingsError, RouteTableError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
