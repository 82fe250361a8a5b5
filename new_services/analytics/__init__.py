"""Analytics: sales figures kept up to date from order events, and the reports read off them.

Legacy answers `GET /reports/sales` by loading every order in the range and then each
order's items, on every request (`SMELL(report-scan)`). Here a worker folds each
`order.placed` and `order.cancelled` event into per-day aggregates once, and a report
reads one small hash per day that had sales, never an order.

Where the aggregates live, and why: in **Redis**, as a projection (a read model derived
from the order events, so it can be thrown away and rebuilt). New tables would need an
expand migration after the contract step, and the migration history cannot branch yet.
Every key sits under the stack's namespace (`STRANGLER_NAMESPACE`):

    {ns}:analytics:days                     sorted set of days with data, score = ordinal
    {ns}:analytics:day:{YYYY-MM-DD}         hash: order_count, revenue_cents, units_sold
    {ns}:analytics:day:{d}:products         hash: units:{product_id}, revenue:{product_id}
    {ns}:analytics:products                 hash: name:{id} and named_at:{id} (latest order)
    {ns}:analytics:seen:{topic}:{order_id}  applied marker, kept 90 days

A change is applied by one Lua script that sets its "seen" marker and makes every
increment, so it counts once however often it is delivered. The marker is keyed by the
order and the topic (`order.placed:{order_id}`): an order is placed once and cancelled
once, and a rebuild can then replay orders while the worker applies their events. A
cancellation takes back exactly what its placement added, on the placement's day; a
cancellation delivered before its placement makes the day negative until the placement
arrives, then both net to zero.

**Rebuild** (`strangler analytics rebuild`, `service.rebuild`): empty the namespace's
`analytics:` keys, then fold in every order of the orders service's internal feed
(`GET /v2/order-feed`, through `new_services/orders/client.py`): each order's placement,
and its cancellation when its status says so. That makes the projection whole again after
its Redis was lost, and counts the orders legacy wrote, which no event ever announced:
run it before the `reports` route goes extracted. Safe while the shop serves; reports
come up short until it ends.

| module | role |
|---|---|
| `events.py` | `OrderPlaced` and `OrderCancelled` read from the outbox's messages |
| `model.py` | periods (legacy's validation and v2's), a sale, a day's figures, the report |
| `projection.py` | the `SalesProjection` port, in Redis and in memory |
| `service.py` | record an event; build a report; rebuild from the orders book |
| `jobs.py`, `__main__.py` | the RQ worker on queue `{ns}-analytics` |
| `api_v1.py`, `api_v2.py` | the reports API: `GET /reports/sales` (legacy's), `/v2/reports/sales` |
| `openapi.py`, `app.py` | `uvicorn --factory new_services.analytics.app:create_app` |
"""
