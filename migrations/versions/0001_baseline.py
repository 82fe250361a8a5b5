"""Baseline: the schema the legacy shop creates for itself, frozen as it stands today.

The tables are created the way the app creates them (`MetaData.create_all` of the same
definitions, no naming convention), so a database made by this revision and one made by
the app compare equal; `strangler migrate adopt` checks that before stamping a database
the app made. A copy, not an import of `legacy_app.db`: a revision must not change when
the app does.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None
PHASE = "baseline"

LOSES_ON_DOWNGRADE = "every table of the shop, with all its rows"


def legacy_metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(255), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "products",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sku", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("stock", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "cart_items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("product_id", sa.Integer, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("added_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("subtotal_cents", sa.Integer, nullable=False),
        sa.Column("discount_code", sa.String(32)),
        sa.Column("discount_cents", sa.Integer, nullable=False),
        sa.Column("shipping_cents", sa.Integer, nullable=False),
        sa.Column("tax_cents", sa.Integer, nullable=False),
        sa.Column("total_cents", sa.Integer, nullable=False),
        sa.Column("charge_id", sa.String(64)),
        sa.Column("email_sent", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "order_items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.Integer, nullable=False),
        sa.Column("product_id", sa.Integer, nullable=False),
        sa.Column("product_name", sa.String(200), nullable=False),
        sa.Column("unit_price_cents", sa.Integer, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
    )
    sa.Table(
        "analytics_events",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("user_id", sa.Integer),
        sa.Column("order_id", sa.Integer),
        sa.Column("amount_cents", sa.Integer),
        sa.Column("payload", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    return metadata


def upgrade() -> None:
    legacy_metadata().create_all(op.get_bind())


def downgrade() -> None:
    legacy_metadata().drop_all(op.get_bind())
