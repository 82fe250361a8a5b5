"""What the services declare of the schema (each domain's `tables.py`, the outbox and the
idempotency records) against what the migrations make: every table and column a service
reads or writes exists, with the type and nullability it declares, at the expand head and
after the contract step (SQLite, or PostgreSQL via DATABASE_URL).

A service declares only the columns it uses, so what the database has beyond them is not
a difference; nor are server defaults, which only the migrations set."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData

from migrations import history
from new_services.catalog import tables as catalog
from new_services.orders import tables as orders
from new_services.payments import tables as payments
from new_services.platform.idempotency import records
from new_services.platform.outbox import outbox_events
from new_services.users import tables as users
from tests.integration.migrating import engine_at, routes_table, run_backfill

DECLARED = {
    "catalog": catalog.metadata,
    "orders": orders.metadata,
    "payments": payments.metadata,
    "outbox": outbox_events.metadata,
    "idempotency": records.metadata,
    "users": users.metadata,
}
# INTEGER columns bound as BIGINT on purpose (new_services/catalog/tables.py says why)
WIDER_ON_PURPOSE = {("products", "id"), ("stock_reservations", "product_id"), ("users", "id")}
DIFFERENCES = {"add_table", "add_column", "modify_type", "modify_nullable"}


def _named(difference: tuple[Any, ...]) -> tuple[str, str, str | None]:
    """(kind, table, column) of one of Alembic's autogenerate differences."""
    kind = difference[0]
    if kind == "add_table":
        return kind, difference[1].name, None
    if kind == "add_column":
        return kind, difference[2], difference[3].name
    return kind, difference[2], difference[3]  # modify_*: (kind, schema, table, column, ...)


def mismatches(url: str, declared: MetaData) -> list[tuple[str, str, str | None]]:
    """Where the database lacks, or types otherwise, what `declared` says a service uses."""
    with engine_at(url) as engine, engine.connect() as conn:
        found = history.schema_differences(conn, declared)
    named = [
        _named(one)
        for difference in found
        for one in (difference if isinstance(difference, list) else [difference])
        if one[0] in DIFFERENCES
    ]
    return [
        (kind, table, column)
        for kind, table, column in named
        if not (kind == "modify_type" and (table, column) in WIDER_ON_PURPOSE)
    ]


def test_the_expand_step_makes_every_column_the_services_use_as_they_declare_it(
    fresh_database_url: str,
) -> None:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
    declared = {**DECLARED, "orders, email flag": orders.orders_with_email_flag.metadata}
    found = {name: mismatches(fresh_database_url, tables) for name, tables in declared.items()}
    assert found == {name: [] for name in declared}


def test_after_the_contract_step_the_services_find_the_email_flag_gone_and_order_uuids_required(
    fresh_database_url: str,
) -> None:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
    run_backfill(fresh_database_url)  # the contract step refuses to run before it ends
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "head", routes=routes_table)
    found = {name: mismatches(fresh_database_url, tables) for name, tables in DECLARED.items()}
    # the step makes orders.uuid NOT NULL; the service declares it as it must read it
    # before then (NULL until the backfill reaches the row), which is the weaker promise
    uuid_required = ("modify_nullable", "orders", "uuid")
    assert found == {**{name: [] for name in DECLARED}, "orders": [uuid_required]}
    # orders/repository.py looks for the column and writes it only while it is there
    flagged = mismatches(fresh_database_url, orders.orders_with_email_flag.metadata)
    assert sorted(flagged) == [("add_column", "orders", "email_sent"), uuid_required]
