"""`python -m gateway`: the public and admin listeners in one process, one event loop."""

from __future__ import annotations

import asyncio
import sys

import uvicorn

from gateway import logs
from gateway.app import create_gateway
from gateway.routes import RouteTableError
from gateway.settings import GatewaySettings, GatewaySettingsError


async def serve(settings: GatewaySettings) -> None:
    gateway = create_gateway(settings)
    public = uvicorn.Server(
        uvicorn.Config(
            gateway.public,
            host=settings.host,
            port=settings.port,
            access_log=False,
            lifespan="on",
            log_config=None,  # gateway.logs: JSON lines
            timeout_graceful_shutdown=5,
            server_header=False,
            date_header=False,  # the upstream's own headers pass through
        )
    )
    admin = uvicorn.Server(
        uvicorn.Config(
            gateway.admin,
            host=settings.admin_host,
            port=settings.admin_port,
            access_log=False,
            lifespan="off",
            log_config=None,
        )
    )

    async def run(server: uvicorn.Server, other: uvicorn.Server) -> None:
        # Each uvicorn server captures SIGTERM for itself; whichever stops first stops the other.
        try:
            await server.serve()
        finally:
            other.should_exit = True

    await asyncio.gather(run(public, admin), run(admin, public))


def main() -> None:
    logs.configure()
    try:
        settings = GatewaySettings.from_env()
        asyncio.run(serve(settings))
    except (GatewaySettingsError, RouteTableError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
