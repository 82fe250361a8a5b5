"""`python -m gateway.rollouts`: the rollout controller, a stack part beside the gateways.

It reads the gateway's own settings (GATEWAY_REDIS_URL, GATEWAY_NAMESPACE, the routes file and
GATEWAY_UPSTREAM_*) and, for itself, ROLLOUT_TICK_S (0.5), ROLLOUT_LEASE_S (5: how long a
controller that stopped answering keeps the lease), ROLLOUT_METRICS_HOST/PORT (Prometheus;
unset: none). Run two for availability: one holds the lease and acts, the other waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from prometheus_client import start_http_server
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway import logs
from gateway.app import load_table
from gateway.rollouts.controller import Controller
from gateway.rollouts.metrics import RolloutMetrics
from gateway.rollouts.moves import Tables
from gateway.rollouts.state import RedisRolloutStore
from gateway.routes import RouteTableError
from gateway.settings import GatewaySettings, GatewaySettingsError
from gateway.signals import RedisSignalStore
from gateway.store import RedisRouteStore
from new_services.outbox_relay.lag import Lag
from new_services.outbox_relay.lag import parse as parse_lag

log = logging.getLogger("gateway.rollouts")


@dataclass(frozen=True)
class ControllerSettings:
    tick_s: float = 0.5
    lease_s: float = 5.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ControllerSettings:
        try:
            settings = cls(
                tick_s=float(environ.get("ROLLOUT_TICK_S", "0.5")),
                lease_s=float(environ.get("ROLLOUT_LEASE_S", "5")),
                metrics_host=environ.get("ROLLOUT_METRICS_HOST", "127.0.0.1"),
                metrics_port=int(environ["ROLLOUT_METRICS_PORT"])
                if environ.get("ROLLOUT_METRICS_PORT")
                else None,
            )
        except ValueError as exc:
            raise GatewaySettingsError(f"a ROLLOUT_* setting is not a number: {exc}") from exc
        if not 0.05 <= settings.tick_s < settings.lease_s:
            raise GatewaySettingsError("ROLLOUT_TICK_S must be at least 0.05 and below the lease")
        return settings


async def run(gateway: GatewaySettings, own: ControllerSettings, stop: asyncio.Event) -> None:
    if not gateway.redis_url:
        raise GatewaySettingsError("the rollout controller needs GATEWAY_REDIS_URL")
    declared = load_table(gateway)
    redis = Redis.from_url(gateway.redis_url, socket_timeout=2, socket_connect_timeout=2)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def lags() -> dict[str, Lag] | None:
        return parse_lag(await redis.hgetall(gateway.capture_lag_key), time.time())

    metrics = RolloutMetrics()
    if own.metrics_port is not None:
        start_http_server(own.metrics_port, own.metrics_host, registry=metrics.registry)
    rollouts = RedisRolloutStore(redis, gateway.namespace)
    heartbeat = f"{gateway.namespace}:rollouts:heartbeat"  # the runner's health check
    async with httpx.AsyncClient() as http:
        controller = Controller(
            rollouts=rollouts,
            tables=Tables(
                RedisRouteStore(redis, gateway.namespace),
                declared,
                lags,
                gateway.read_model_max_lag_s,
            ),
            signals=RedisSignalStore(redis, gateway.namespace),
            owner=owner,
            http=http,
            lease_s=own.lease_s,
        )
        log.info("rollout controller %s started", owner)
        try:
            while not stop.is_set():
                try:
                    acting = await controller.tick()
                    await redis.set(heartbeat, owner, px=int(own.lease_s * 2000))
                    metrics.export(await rollouts.all(), acting)
                # Redis, the table (ChangeError), or stored state that does not read (a
                # ValueError, KeyError or TypeError out of Rollout.from_dict): the tick fails,
                # the loop goes on; out of the loop it would be a crash loop under the runner
                except (RedisError, OSError, ValueError, LookupError, TypeError) as exc:
                    log.warning("rollout tick failed: %s: %s", type(exc).__name__, exc)
                    metrics.tick_errors.inc()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), own.tick_s)
        finally:
            await rollouts.release(owner)  # the other controller takes over at once
            await redis.aclose()


def main() -> None:
    logs.configure()
    stop = asyncio.Event()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(GatewaySettings.from_env(), ControllerSettings.from_env(), stop)

    try:
        asyncio.run(serve())
    except (GatewaySettingsError, RouteTableError) as exc:
        print(f"rollout controller: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
