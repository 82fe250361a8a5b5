"""Composition root: builds the route store, the live table, the upstream client and both apps."""

from __future__ import annotations

import asyncio
import contextlib
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.applications import Starlette
from starlette.types import ASGIApp

from gateway.admin import admin_app
from gateway.breaker import Breakers
from gateway.http1 import Http1Upstream
from gateway.live import LiveTable
from gateway.load import LoopLoad
from gateway.metrics import Metrics
from gateway.parity import InMemoryParityStore, ParityStore, RedisParityStore
from gateway.proxy import Proxy, ProxyConfig, Receive, Scope, Send
from gateway.rollouts.moves import Tables
from gateway.rollouts.state import InMemoryRolloutStore, RedisRolloutStore, RolloutStore
from gateway.routes import RouteTable, RouteTableError
from gateway.settings import GatewaySettings
from gateway.shadow import Shadow
from gateway.signals import InMemorySignalStore, RedisSignalStore, SignalRecorder, SignalStore
from gateway.store import InMemoryRouteStore, RedisRouteStore, RouteStore
from gateway.upstream import AiohttpUpstream, Upstream
from new_services.outbox_relay.lag import Lag
from new_services.outbox_relay.lag import parse as parse_lag
from new_services.platform.tracing import TraceRequests


def load_table(settings: GatewaySettings) -> RouteTable:
    """The seed table from the routes file, with per-machine upstream URLs applied."""
    try:
        raw: dict[str, Any] = tomllib.loads(settings.routes_file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RouteTableError(f"cannot read {settings.routes_file}: {exc}") from exc
    raw.setdefault("upstreams", {}).update(dict(settings.upstream_overrides))
    return RouteTable.from_dict(raw, version=0)


@dataclass
class Gateway:
    settings: GatewaySettings
    store: RouteStore
    live: LiveTable
    upstream: Upstream
    parity: ParityStore
    shadow: Shadow
    metrics: Metrics
    breakers: Breakers
    load: LoopLoad
    rollouts: RolloutStore
    signals: SignalRecorder  # the proxy's per-route, per-side counts, flushed to ...
    signal_store: SignalStore  # ... this store, shared by every instance (with Redis)
    redis: Redis | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        await self.live.refresh()
        await self.shadow.start()
        self._tasks.append(asyncio.create_task(self.live.run(), name="live-table"))
        self._tasks.append(asyncio.create_task(self.load.run(), name="loop-load"))
        self.signals.start(self.settings.signals_flush_s)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.signals.stop()  # the last second's counts, before Redis closes
        await self.shadow.stop()
        await self.upstream.close()
        if self.redis is not None:
            await self.redis.aclose()

    async def read_model_lag(self) -> dict[str, Lag] | None:
        """The relay's lag figures (new_services/outbox_relay/lag.py), None when there are none."""
        if self.redis is None:
            return None
        raw = await self.redis.hgetall(self.settings.capture_lag_key)
        return parse_lag(raw, time.time())

    @property
    def tables(self) -> Tables:
        """What a rollout needs to move routes: the store, the routes file, the guard's lags."""
        return Tables(
            self.store,
            self.live.seed_table,
            self.read_model_lag,
            self.settings.read_model_max_lag_s,
        )

    @property
    def public(self) -> PublicApp:
        return PublicApp(self)

    @property
    def admin(self) -> Starlette:
        return admin_app(self)


Served = Callable[[Scope, Receive, Send], Awaitable[None]]


class PublicApp:
    """The public listener: the proxy, plus the lifespan that starts and stops the gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._proxy = Proxy(
            lambda: gateway.live.current,
            gateway.upstream,
            ProxyConfig(
                max_body_bytes=gateway.settings.max_body_bytes,
                stream_from_bytes=gateway.settings.stream_from_bytes,
                internal_token=gateway.settings.internal_token,
            ),
            shadow=gateway.shadow,
            metrics=gateway.metrics,
            breakers=gateway.breakers,
            signals=gateway.signals,
        )
        # A span per request, passed on as the upstream's parent, only when tracing is on
        # (OTEL_TRACES_EXPORTER): otherwise not installed, so the hot path pays nothing.
        self._served: Served = self._proxy
        if gateway.settings.tracing:
            traced = TraceRequests(cast(ASGIApp, self._proxy), service="gateway", forward=True)
            self._served = cast(Served, traced)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self._gateway.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self._gateway.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self._served(scope, receive, send)


def create_gateway(
    settings: GatewaySettings, upstream: Upstream | None = None, store: RouteStore | None = None
) -> Gateway:
    """Nothing connects here: connections open in `Gateway.start` (the public app's lifespan)."""
    table = load_table(settings)
    redis = None
    parity: ParityStore
    signal_store: RedisSignalStore | InMemorySignalStore
    if settings.redis_url:
        # After Redis restarts, the pool's old connections are closed: a command that meets
        # one is sent once more, at once, on a new connection (redis-py retries nothing by
        # default), rather than fail an operator's request with "route store unavailable".
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        parity = RedisParityStore(redis, namespace=settings.namespace)
        signal_store = RedisSignalStore(redis, namespace=settings.namespace)
    else:
        in_memory = InMemoryParityStore()
        parity, signal_store = in_memory, InMemorySignalStore(parity=in_memory)
    if store is None:
        store = RedisRouteStore(redis, settings.namespace) if redis else InMemoryRouteStore()
    if upstream is None:
        upstream = Http1Upstream() if settings.upstream_client == "http1" else AiohttpUpstream()
    metrics = Metrics()
    load = LoopLoad(lag_gauge=metrics.loop_lag, busy_gauge=metrics.loop_busy)
    max_busy = settings.shadow_max_busy
    return Gateway(
        settings=settings,
        store=store,
        live=LiveTable(
            store,
            table,
            interval_s=settings.poll_interval_s,
        ),
        upstream=upstream,
        parity=parity,
        shadow=Shadow(
            upstream,
            parity,
            settings.dry_run_key,
            concurrency=settings.shadow_concurrency,
            queue_size=settings.shadow_queue,
            metrics=metrics,
            busy=lambda: load.busy > max_busy,
            secrets=(
                settings.internal_token or "",
                settings.dry_run_key or "",
                *(token for _, token in settings.admin_tokens),
            ),
        ),
        metrics=metrics,
        breakers=Breakers(time.monotonic),
        load=load,
        rollouts=RedisRolloutStore(redis, settings.namespace) if redis else InMemoryRolloutStore(),
        signals=SignalRecorder(signal_store, dropped=metrics.signals_dropped),
        signal_store=signal_store,
        redis=redis,
    )
