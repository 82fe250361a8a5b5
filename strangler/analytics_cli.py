"""`strangler analytics rebuild`: the sales projection, thrown away and made again from the
orders book (after its Redis was lost, or before the `reports` route goes extracted on a
shop whose history legacy wrote)."""

from __future__ import annotations

import httpx
import typer
from redis import Redis

from new_services.analytics.projection import RedisSalesProjection
from new_services.analytics.service import rebuild as rebuild_projection
from new_services.orders.client import OrdersUnavailable, order_feed
from strangler.settings import Settings

app = typer.Typer(help="The analytics read model: rebuild it.", no_args_is_help=True)


@app.command()
def rebuild(ctx: typer.Context) -> None:
    """Empty the sales aggregates, then fold in every order the orders service has.

    Safe while the shop serves: an order the worker applies meanwhile counts once. Reports
    come up short until it ends. Needs the stack's orders service and Redis."""
    settings: Settings = ctx.obj
    redis = Redis.from_url(settings.shop_redis_url)
    projection = RedisSalesProjection(redis, settings.namespace)
    try:
        with httpx.Client(base_url=settings.url("orders"), timeout=30) as http:
            done = rebuild_projection(projection, order_feed(http))
    except OrdersUnavailable as exc:
        typer.secho(
            f"error: {exc}; the aggregates are incomplete, run it again", err=True, fg="red"
        )
        raise typer.Exit(1) from exc
    finally:
        redis.close()
    typer.echo(
        f"rebuilt from {done.orders} orders: {done.placed} placed and {done.cancelled} "
        f"cancelled applied now ({done.dropped_keys} keys dropped first)"
    )
