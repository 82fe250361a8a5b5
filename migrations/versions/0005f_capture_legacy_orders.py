"""Expand: legacy's order writes become outbox events in the same transaction (capture).

While legacy still takes checkouts and cancels, the services' read models (the sales
aggregates first) must hear of them. Triggers do what Debezium's connector does from the
write-ahead log, inside the database and with no change to legacy's code: a row legacy
inserts into `orders` and the lines it inserts into `order_items` build one
`legacy.order.placed` event; the lines it deletes and then the order row build one
`legacy.order.cancelled` event. Both are appended to `outbox_events` in legacy's own
transaction, so they commit or roll back with the change, and the relay publishes them
like any other event.

Legacy-born is told from service-born by what each side writes: the orders service always
sets `orders.metadata`, legacy never does (a NULL there is legacy's insert); the services
never hard-delete an order (they cancel by `deleted_at`), so every DELETE is legacy's.
The events carry what the services' own `order.placed` / `order.cancelled` carry (order
id, total, placement time in UTC, lines), and a cancel the provider's `charge_id` (the
one link to the payment that outlives legacy's delete: the payments worker records the
refund legacy made by it), under their own topics, so a consumer knows a
legacy-born event from a service-born one and the catalog and notifications never see
them (legacy holds no stock and sends its own e-mail).

What capture cannot see: a write made with the triggers off (a bulk load with
`session_replication_role = replica` on PostgreSQL), and the rows of a table it does not
watch (users, products and stock are not captured yet).

Revision ID: 0005f_capture_legacy_orders
Revises: 0005e_order_fates
"""

# ruff: noqa: S608 -- the SQL here is built from this module's constants, never from input

from __future__ import annotations

from alembic import op

from migrations.ops import dialect, short_transactions
from migrations.uuid_sql import uuid4_sql

revision = "0005f_capture_legacy_orders"
down_revision = "0005e_order_fates"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: the legacy app keeps working, and never learns of it

LOSES_ON_DOWNGRADE = "nothing kept: legacy's later writes are no longer captured"

PLACED, CANCELLED = "legacy.order.placed", "legacy.order.cancelled"
_TRIGGERS = (
    ("capture_order_placed", "orders"),
    ("capture_order_line_added", "order_items"),
    ("capture_order_line_removed", "order_items"),
    ("capture_order_cancelled", "orders"),
)


def _sqlite() -> list[str]:
    uuid = uuid4_sql("sqlite")
    now = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"  # microseconds, as SQLAlchemy writes

    def stamp(column: str) -> str:
        return f"strftime('%Y-%m-%dT%H:%M:%SZ', {column})"

    def line(row: str) -> str:
        return (
            f"json_object('product_id', {row}.product_id, 'name', {row}.product_name, "
            f"'unit_price_cents', {row}.unit_price_cents, 'quantity', {row}.quantity, "
            f"'total_cents', {row}.unit_price_cents * {row}.quantity)"
        )

    def pending(topic: str, order_id: str) -> str:
        return (
            f"topic = '{topic}' AND aggregate_id = 'legacy:' || {order_id} AND published_at IS NULL"
        )

    def open_cancel(order_id: str) -> str:
        """The order's pending cancel event, made empty unless a trigger made it already."""
        return (
            "INSERT INTO outbox_events (id, topic, aggregate_id, payload, created_at, attempts) "
            f"SELECT {uuid}, '{CANCELLED}', 'legacy:' || {order_id}, json_object('order_id', "
            f"{order_id}, 'origin', 'legacy', 'items', json('[]')), {now}, 0 WHERE NOT EXISTS "
            f"(SELECT 1 FROM outbox_events WHERE {pending(CANCELLED, order_id)});"
        )

    return [
        f"""CREATE TRIGGER capture_order_placed AFTER INSERT ON orders
        FOR EACH ROW WHEN NEW.metadata IS NULL BEGIN
          INSERT INTO outbox_events (id, topic, aggregate_id, payload, created_at, attempts)
          VALUES ({uuid}, '{PLACED}', 'legacy:' || NEW.id, json_object(
            'order_id', NEW.id, 'user_id', NEW.user_id, 'origin', 'legacy',
            'total_cents', NEW.total_cents, 'created_at', {stamp("NEW.created_at")},
            'items', json('[]')), {now}, 0);
        END""",
        f"""CREATE TRIGGER capture_order_line_added AFTER INSERT ON order_items
        FOR EACH ROW BEGIN
          UPDATE outbox_events SET payload = json_insert(payload, '$.items[#]', {line("NEW")})
          WHERE {pending(PLACED, "NEW.order_id")};
        END""",
        f"""CREATE TRIGGER capture_order_line_removed AFTER DELETE ON order_items
        FOR EACH ROW BEGIN
          {open_cancel("OLD.order_id")}
          UPDATE outbox_events SET payload = json_insert(payload, '$.items[#]', {line("OLD")})
          WHERE {pending(CANCELLED, "OLD.order_id")};
        END""",
        f"""CREATE TRIGGER capture_order_cancelled AFTER DELETE ON orders
        FOR EACH ROW BEGIN
          {open_cancel("OLD.id")}
          UPDATE outbox_events SET payload = json_set(payload,
            '$.user_id', OLD.user_id, '$.total_cents', OLD.total_cents,
            '$.created_at', {stamp("OLD.created_at")}, '$.charge_id', OLD.charge_id)
          WHERE {pending(CANCELLED, "OLD.id")};
        END""",
    ]


def _postgresql() -> list[str]:
    line = (
        "jsonb_build_object('product_id', {r}.product_id, 'name', {r}.product_name, "
        "'unit_price_cents', {r}.unit_price_cents, 'quantity', {r}.quantity, "
        "'total_cents', {r}.unit_price_cents * {r}.quantity)"
    )
    stamp = 'to_char({c}, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\')'
    return [
        f"""CREATE OR REPLACE FUNCTION capture_order_placed() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
          IF NEW.metadata IS NULL THEN
            INSERT INTO outbox_events (id, topic, aggregate_id, payload, created_at, attempts)
            VALUES (gen_random_uuid(), '{PLACED}', 'legacy:' || NEW.id, jsonb_build_object(
              'order_id', NEW.id, 'user_id', NEW.user_id, 'origin', 'legacy',
              'total_cents', NEW.total_cents, 'created_at', {stamp.format(c="NEW.created_at")},
              'items', '[]'::jsonb), clock_timestamp(), 0);
          END IF;
          RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION capture_order_line_added() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
          UPDATE outbox_events
          SET payload = jsonb_set(payload, '{{items}}',
                                  (payload -> 'items') || {line.format(r="NEW")})
          WHERE topic = '{PLACED}' AND aggregate_id = 'legacy:' || NEW.order_id
            AND published_at IS NULL;
          RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION capture_order_line_removed() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
          UPDATE outbox_events
          SET payload = jsonb_set(payload, '{{items}}',
                                  (payload -> 'items') || {line.format(r="OLD")})
          WHERE topic = '{CANCELLED}' AND aggregate_id = 'legacy:' || OLD.order_id
            AND published_at IS NULL;
          IF NOT FOUND THEN
            INSERT INTO outbox_events (id, topic, aggregate_id, payload, created_at, attempts)
            VALUES (gen_random_uuid(), '{CANCELLED}', 'legacy:' || OLD.order_id,
              jsonb_build_object('order_id', OLD.order_id, 'origin', 'legacy',
                                 'items', jsonb_build_array({line.format(r="OLD")})),
              clock_timestamp(), 0);
          END IF;
          RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION capture_order_cancelled() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
          UPDATE outbox_events
          SET payload = payload || jsonb_build_object('user_id', OLD.user_id,
                'total_cents', OLD.total_cents,
                'created_at', {stamp.format(c="OLD.created_at")}, 'charge_id', OLD.charge_id)
          WHERE topic = '{CANCELLED}' AND aggregate_id = 'legacy:' || OLD.id
            AND published_at IS NULL;
          IF NOT FOUND THEN
            INSERT INTO outbox_events (id, topic, aggregate_id, payload, created_at, attempts)
            VALUES (gen_random_uuid(), '{CANCELLED}', 'legacy:' || OLD.id, jsonb_build_object(
              'order_id', OLD.id, 'user_id', OLD.user_id, 'origin', 'legacy',
              'total_cents', OLD.total_cents,
              'created_at', {stamp.format(c="OLD.created_at")}, 'charge_id', OLD.charge_id,
              'items', '[]'::jsonb),
              clock_timestamp(), 0);
          END IF;
          RETURN NULL;
        END $$""",
        *(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
            for name, table, event in (
                ("capture_order_placed", "orders", "INSERT"),
                ("capture_order_line_added", "order_items", "INSERT"),
                ("capture_order_line_removed", "order_items", "DELETE"),
                ("capture_order_cancelled", "orders", "DELETE"),
            )
        ),
    ]


def upgrade() -> None:
    with short_transactions():
        for statement in _postgresql() if dialect() == "postgresql" else _sqlite():
            op.execute(statement)


def downgrade() -> None:
    for name, table in _TRIGGERS:
        if dialect() == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
