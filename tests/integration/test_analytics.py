"""The analytics worker and reports API on a real Redis and RQ: an event counts once however
often it comes, a cancellation takes back exactly what its placement added, stacks sharing
a Redis keep apart, and v1 answers as the legacy shop answers, byte for byte."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import insert
from typer.testing import CliRunner

import legacy_app.app
from legacy_app.db import order_items, orders
from migrations import history
from new_services.analytics import jobs
from new_services.analytics.app import create_app
from new_services.analytics.events import OrderPlaced
from new_services.analytics.projection import READ_BATCH, RedisSalesProjection
from new_services.analytics.service import record
from new_services.analytics.settings import AnalyticsSettings
from new_services.orders.repository import SqlOrderBook
from new_services.platform.outbox import Destination, Event, Relay, append
from strangler import cli
from strangler.parts import Part
from strangler.runner import running
from strangler.settings import PORT_OFFSETS
from tests.conftest import free_port_base
from tests.integration.migrating import engine_at
from tests.integration.processes import ROOT, uvicorn_part
from tests.unit.analytics.messages import cancelled, placed

PLACED = "new_services.analytics.jobs.on_order_placed"
CANCELLED = "new_services.analytics.jobs.on_order_cancelled"
PROBLEM = "application/problem+json"
pytestmark = pytest.mark.anyio
REPORT_KEYS = ["from", "to", "order_count", "revenue_cents", "units_sold", "top_products"]


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    with Redis.from_url(redis_url) as client:
        yield client


def forget(redis: Redis, namespace: str) -> None:
    for key in redis.scan_iter(f"{namespace}:*"):
        redis.delete(key)


@pytest.fixture
def settings(
    redis_url: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AnalyticsSettings]:
    """A namespace of this test's own; the jobs read it from the environment, as in RQ."""
    settings = AnalyticsSettings(redis_url, f"test-{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("STRANGLER_NAMESPACE", settings.namespace)
    yield settings
    forget(redis, settings.namespace)


@pytest.fixture
async def api(settings: AnalyticsSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The reports API in-process, its lifespan run as uvicorn would run it."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://analytics"
        ) as client,
    ):
        yield client


@pytest.fixture
def legacy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    """The legacy shop on an empty SQLite file of its own."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'legacy.db'}")
    app = legacy_app.app.create_app()
    yield app.test_client()
    legacy_app.app.ENGINE.dispose()


async def v1(api: httpx.AsyncClient, start: str, end: str) -> dict[str, Any]:
    response = await api.get("/reports/sales", params={"from": start, "to": end})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def totals(body: dict[str, Any]) -> tuple[int, int, int]:
    return body["order_count"], body["revenue_cents"], body["units_sold"]


async def test_an_event_handled_twice_counts_once(api: httpx.AsyncClient) -> None:
    order = placed("2024-05-01T10:00:00Z", [(1, 500, 2)], total=1_200)

    assert jobs.on_order_placed(order) == "applied"
    assert jobs.on_order_placed(order) == "already applied"

    assert totals(await v1(api, "2024-05-01", "2024-05-01")) == (1, 1_200, 2)


async def test_an_event_delivered_twice_through_rq_counts_once(
    redis: Redis, settings: AnalyticsSettings, api: httpx.AsyncClient
) -> None:
    order = placed("2024-05-01T10:00:00Z", [(1, 500, 2)], total=1_200)
    queue = Queue(settings.queue, connection=redis)
    # two jobs for one event: a relay that published again after losing its stamp
    first = queue.enqueue_call(PLACED, args=(order,), job_id=f"{uuid.uuid4().hex}-a")
    again = queue.enqueue_call(PLACED, args=(order,), job_id=f"{uuid.uuid4().hex}-b")

    Worker([queue], connection=redis).work(burst=True)

    assert (first.return_value(), again.return_value()) == ("applied", "already applied")
    assert totals(await v1(api, "2024-05-01", "2024-05-01")) == (1, 1_200, 2)


async def test_placing_then_cancelling_returns_the_report_to_its_previous_figures(
    api: httpx.AsyncClient,
) -> None:
    jobs.on_order_placed(placed("2024-05-01T09:00:00Z", [(1, 100, 1)]))
    before = await v1(api, "2024-04-30", "2024-05-02")
    order = placed("2024-05-01T10:00:00Z", [(1, 100, 3), (2, 999, 1)], total=1_500)

    jobs.on_order_placed(order)
    assert totals(await v1(api, "2024-04-30", "2024-05-02")) == (2, 1_600, 5)
    jobs.on_order_cancelled(cancelled(order, at="2024-05-03T08:00:00Z"))

    assert (await v1(api, "2024-04-30", "2024-05-02")) == before
    assert [p["product_id"] for p in before["top_products"]] == [1]


async def test_a_cancel_delivered_before_its_placement_nets_to_zero(api: httpx.AsyncClient) -> None:
    order = placed("2024-05-01T10:00:00Z", [(1, 100, 3)], total=450)

    assert jobs.on_order_cancelled(cancelled(order)) == "applied"
    assert jobs.on_order_placed(order) == "applied"

    assert (await v1(api, "2024-05-01", "2024-05-01")) == {
        "from": "2024-05-01",
        "to": "2024-05-01",
        "order_count": 0,
        "revenue_cents": 0,
        "units_sold": 0,
        "top_products": [],
    }


async def test_two_namespaces_sharing_a_redis_do_not_mix(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    other = RedisSalesProjection(redis, namespace)
    try:
        record(other, OrderPlaced.from_message(placed("2024-05-01T10:00:00Z", [(1, 100, 1)])))
        jobs.on_order_placed(placed("2024-05-01T11:00:00Z", [(2, 700, 2)]))

        assert totals(await v1(api, "2024-05-01", "2024-05-01")) == (1, 1_400, 2)
    finally:
        forget(redis, namespace)


async def test_both_ends_of_a_range_are_whole_utc_days(api: httpx.AsyncClient) -> None:
    for at, price in [
        ("2024-02-29T23:59:59Z", 1),
        ("2024-03-01T00:00:00Z", 10),
        ("2024-03-02T00:30:00+02:00", 100),  # 22:30 on the 1st, in UTC
        ("2024-03-03T23:59:59Z", 1_000),
        ("2024-03-04T00:00:00Z", 10_000),
    ]:
        jobs.on_order_placed(placed(at, [(1, price, 1)]))

    assert (await v1(api, "2024-03-01", "2024-03-03"))["revenue_cents"] == 1_110
    assert (await v1(api, "2024-03-02", "2024-03-02"))["revenue_cents"] == 0
    assert (await v1(api, "2024-02-29", "2024-03-04"))["revenue_cents"] == 11_111


async def test_a_range_of_centuries_sums_every_day_that_had_sales(api: httpx.AsyncClient) -> None:
    days = READ_BATCH + 20  # more days than one read takes
    for n in range(days):
        day = datetime.fromordinal(datetime(2020, 1, 1).toordinal() + 3 * n)
        jobs.on_order_placed(placed(day.strftime("%Y-%m-%dT12:00:00Z"), [(n % 12, 100, 1)]))

    body = await v1(api, "0001-01-01", "9998-12-31")

    assert totals(body) == (days, days * 100, days)
    assert len(body["top_products"]) == 10


# Each one as a raw query string, so repeated and odd parameters reach both apps unchanged.
BAD_AND_ODD_QUERIES = [
    "",
    "to=2026-01-31",
    "from=2026-01-01",
    "from=&to=2026-01-31",
    "from=2026-1-01&to=2026-01-31",
    "from=20260101&to=2026-01-31",
    "from=2026-01-01&to=2026-13-01",
    "from=2026-02-30&to=2026-03-01",
    "from=yesterday&to=2026-01-31",
    "from=2026-01-01T00:00:00&to=2026-01-31",
    "from=2026-02-01&to=2026-01-31",
    "from=9999-01-01&to=9999-12-31",
    "from=9999-01-02&to=9999-01-01",
    "from=0000-01-01&to=2026-01-31",
    "from=2026-01-01%0A&to=2026-01-31",
    "from=2026-01-01+&to=2026-01-31",
    "from=%FF&to=2026-01-31",
    "from=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-01-01&to=2026-01-31",  # a full-width year
    "from=2026-01-01&from=nonsense&to=2026-01-31",
    "from=nonsense&from=2026-01-01&to=2026-01-31",
    "FROM=2026-01-01&TO=2026-01-31",
    "from=0001-01-01&to=9998-12-31",
]


@pytest.mark.parametrize("query", BAD_AND_ODD_QUERIES)
async def test_v1_answers_any_query_exactly_as_the_legacy_shop(
    api: httpx.AsyncClient, legacy: FlaskClient, query: str
) -> None:
    ours = await api.get(f"/reports/sales?{query}")
    theirs = legacy.get(f"/reports/sales?{query}")

    assert (ours.status_code, ours.headers["content-type"], ours.content) == (
        theirs.status_code,
        theirs.headers["content-type"],
        theirs.data,
    )


async def test_v1_reports_the_same_orders_byte_for_byte_as_the_legacy_shop(
    api: httpx.AsyncClient, legacy: FlaskClient
) -> None:
    names = {1: "Café crème", 2: "Mug", 3: "Tea", **{n: f"Thing {n}" for n in range(4, 14)}}
    kept = [
        placed("2024-06-01T08:00:00Z", [(1, 450, 2), (2, 900, 1)], 1_969, names),
        placed("2024-06-01T23:59:59Z", [(n, 100 * (n % 4 + 1), 1) for n in range(3, 14)], 0, names),
        placed("2024-06-02T00:00:00Z", [(2, 900, 3), (3, 300, 2)], 3_888, names),
        placed("2024-06-04T12:00:00Z", [(1, 450, 1)], 985, names),
    ]
    gone = placed("2024-06-02T10:00:00Z", [(9, 50_000, 1)], 54_499, names)
    for message in kept:
        jobs.on_order_placed(message)
        shop_order(message["payload"])
    jobs.on_order_placed(gone)
    jobs.on_order_cancelled(cancelled(gone))  # legacy deletes the order: it never was

    for start, end in [
        ("2024-06-01", "2024-06-01"),
        ("2024-06-02", "2024-06-02"),
        ("2024-05-01", "2024-06-30"),
        ("2024-06-03", "2024-06-03"),
    ]:
        query = f"/reports/sales?from={start}&to={end}"
        assert (await api.get(query)).content == legacy.get(query).data


def shop_order(payload: dict[str, Any]) -> None:
    """Write the order as the legacy checkout does, so that legacy's report counts it."""
    at = datetime.strptime(payload["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    with legacy_app.app.ENGINE.begin() as conn:
        order_id = conn.execute(
            insert(orders).values(
                user_id=payload["user_id"],
                status="paid",
                subtotal_cents=payload["total_cents"],
                discount_cents=0,
                shipping_cents=0,
                tax_cents=0,
                total_cents=payload["total_cents"],
                email_sent=True,
                created_at=at,
            )
        ).inserted_primary_key[0]
        for item in payload["items"]:
            conn.execute(
                insert(order_items).values(
                    order_id=order_id,
                    product_id=item["product_id"],
                    product_name=item["name"],
                    unit_price_cents=item["unit_price_cents"],
                    quantity=item["quantity"],
                )
            )


async def test_v1_has_legacy_keys_in_legacy_order(api: httpx.AsyncClient) -> None:
    jobs.on_order_placed(placed("2024-05-01T10:00:00Z", [(1, 100, 1)]))

    body = await v1(api, "2024-05-01", "2024-05-01")

    assert list(body) == REPORT_KEYS
    assert list(body["top_products"][0]) == ["product_id", "name", "units", "revenue_cents"]


async def test_v2_reports_the_same_figures_with_an_etag(api: httpx.AsyncClient) -> None:
    jobs.on_order_placed(placed("2024-05-01T10:00:00Z", [(1, 100, 2)], total=333))
    query = {"from": "2024-05-01", "to": "2024-05-31"}

    response = await api.get("/v2/reports/sales", params=query)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-cache"
    assert list(response.json()) == REPORT_KEYS
    assert response.json() == await v1(api, "2024-05-01", "2024-05-31")
    etag = response.headers["etag"]
    unchanged = await api.get("/v2/reports/sales", params=query, headers={"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content) == (304, b"")

    jobs.on_order_placed(placed("2024-05-31T23:00:00Z", [(2, 100, 1)]))

    changed = await api.get("/v2/reports/sales", params=query, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["order_count"] == 2
    assert changed.headers["etag"] != etag


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("", "from and to must be dates as YYYY-MM-DD"),
        ("from=2024-05-01", "from and to must be dates as YYYY-MM-DD"),
        ("from=2024-5-01&to=2024-05-31", "from and to must be dates as YYYY-MM-DD"),
        ("from=2024-05-01%0A&to=2024-05-31", "from and to must be dates as YYYY-MM-DD"),
        ("from=2024-06-01&to=2024-05-31", "from must not be after to"),
        ("from=2024-01-01&to=2025-01-01", "a report covers at most 366 days: ask for several"),
        ("from=2024-05-01&from=2024-05-02&to=2024-05-31", "from must be given once"),
    ],
)
async def test_v2_refuses_a_bad_range_with_a_problem(
    api: httpx.AsyncClient, query: str, detail: str
) -> None:
    response = await api.get(f"/v2/reports/sales?{query}")

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "urn:strangler-kit:problem:invalid-request",
        "title": "The request is not valid",
        "status": 400,
        "detail": detail,
    }


async def test_the_service_serves_health_metrics_and_its_openapi(api: httpx.AsyncClient) -> None:
    await api.get("/v2/reports/sales", params={"from": "2024-05-01", "to": "2024-05-01"})

    assert (await api.get("/healthz")).json() == {"status": "ok"}
    assert 'route="/v2/reports/sales",status="200"' in (await api.get("/metrics")).text
    document = (await api.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    assert "/v2/reports/sales" in document["paths"]  # and the v1 report, health, metrics


def test_events_from_the_outbox_reach_the_report_through_the_worker_process(
    fresh_database_url: str, redis: Redis, settings: AnalyticsSettings, tmp_path: Path
) -> None:
    """The real path: outbox, relay, `python -m new_services.analytics`, the reports API
    under uvicorn, each event once even when the relay publishes it twice."""
    env = {"REDIS_URL": settings.redis_url, "STRANGLER_NAMESPACE": settings.namespace}
    worker = Part(
        name="analytics-worker",
        argv=(sys.executable, "-m", "new_services.analytics"),
        ports=(),
        url=settings.redis_url,
        health=f"{settings.redis_url}#workers:{settings.queue}",
        env={"PYTHONPATH": str(ROOT), **env},
    )
    reports = uvicorn_part(
        "analytics", "new_services.analytics.app:create_app", free_port_base(), env
    )
    routes = {
        "order.placed": [Destination("analytics", PLACED)],
        "order.cancelled": [Destination("analytics", CANCELLED)],
    }
    kept = placed("2024-07-01T10:00:00Z", [(1, 250, 2)], total=600)
    gone = placed("2024-07-01T11:00:00Z", [(2, 900, 1)], total=1_000)
    events = [kept, gone, cancelled(gone)]
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
        relay = Relay(engine, redis, routes, namespace=settings.namespace)
        with engine.begin() as conn:
            for message in events:
                event_id = uuid.UUID(message["id"])
                append(conn, Event(message["topic"], "order", message["payload"], event_id))
        assert relay.publish_pending() == 3
        queue = relay.queue("analytics")
        # as if the relay had died before stamping them, and its job had expired
        again = f"again-{uuid.uuid4().hex}"
        queue.enqueue_call(PLACED, args=(kept,), job_id=again)
        job_ids = [f"{uuid.UUID(m['id']).hex}-analytics" for m in events] + [again]

        with running(worker, tmp_path), running(reports, tmp_path):
            assert eventually(lambda: all_finished(queue, job_ids))
            report = httpx.get(
                f"{reports.url}/v2/reports/sales", params={"from": "2024-07-01", "to": "2024-07-01"}
            ).json()

    assert report == {
        "from": "2024-07-01",
        "to": "2024-07-01",
        "order_count": 1,
        "revenue_cents": 600,
        "units_sold": 2,
        "top_products": [{"product_id": 1, "name": "Product 1", "units": 2, "revenue_cents": 500}],
    }


def all_finished(queue: Queue, job_ids: list[str]) -> bool:
    return all(
        (job := queue.fetch_job(job_id)) is not None and job.is_finished for job_id in job_ids
    )


def eventually(probe: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_rebuild_from_the_orders_book_reports_what_legacy_reports(
    fresh_database_url: str,
    settings: AnalyticsSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`strangler analytics rebuild` against a real orders service: a shop whose orders legacy
    wrote (no event ever told the worker) gets the same report from analytics as from
    legacy, an order the service cancelled included, and a second run changes nothing."""
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    legacy = legacy_app.app.create_app().test_client()
    names = {1: "Café crème", 2: "Mug", 3: "Tea"}
    try:
        for message in [
            placed("2024-06-01T08:00:00Z", [(1, 450, 2), (2, 900, 1)], 1_969, names),
            placed("2024-06-02T00:00:00Z", [(2, 900, 3), (3, 300, 2)], 3_888, names),
            placed("2024-06-02T10:00:00Z", [(3, 300, 9)], 2_799, names),
        ]:
            shop_order(message["payload"])
        with engine_at(fresh_database_url) as engine:
            book = SqlOrderBook(engine)
            # every payload is user 7's; the orders service cancels the dearest
            (gone,) = [o for o in asyncio.run(book.history(7)) if o.price.total_cents == 2_799]
            asyncio.run(book.cancel(gone, datetime.now(UTC)))
        base = free_port_base()
        orders = uvicorn_part(
            "orders",
            "new_services.orders.app:create_app",
            base + PORT_OFFSETS["orders"],
            {"DATABASE_URL": fresh_database_url, "REDIS_URL": settings.redis_url},
        )
        monkeypatch.setenv("STRANGLER_PORT_BASE", str(base))
        with running(orders, tmp_path):
            first = CliRunner().invoke(cli.app, ["analytics", "rebuild"])
            again = CliRunner().invoke(cli.app, ["analytics", "rebuild"])
        assert first.exit_code == 0, first.output
        assert "rebuilt from 3 orders: 3 placed and 1 cancelled" in first.output
        assert again.exit_code == 0 and "3 placed and 1 cancelled" in again.output

        async def compare() -> None:
            app = create_app(settings)
            transport = httpx.ASGITransport(app=app)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://analytics") as api,
            ):
                for start, end in [("2024-06-01", "2024-06-01"), ("2024-05-01", "2024-06-30")]:
                    query = f"/reports/sales?from={start}&to={end}"
                    assert (await api.get(query)).content == legacy.get(query).data

        asyncio.run(compare())
        assert legacy.get("/reports/sales?from=2024-06-02&to=2024-06-02").json["order_count"] == 1
    finally:
        legacy_app.app.ENGINE.dispose()
