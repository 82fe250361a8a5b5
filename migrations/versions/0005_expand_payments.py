"""Expand: the payments service's own tables.

`payments` holds one payment per order: the row is written `pending` before the provider
is called, so the unique `order_ref` stops a second charge for the order whatever key it
carries, and a retry after a timeout resumes the same payment. `payment_refunds` works
the same way: the amount is reserved on the payment (within its bounds) before the
provider refunds it. Nothing of the legacy app reads or writes these tables.

Revision ID: 0005_expand_payments
Revises: 0004_expand_service_tables
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import create_index_online, create_table_once, short_transactions

revision = "0005_expand_payments"
down_revision = "0004_expand_service_tables"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: the legacy app keeps working

LOSES_ON_DOWNGRADE = "every payment and refund the payments service recorded"


def upgrade() -> None:
    with short_transactions():
        create_table_once(
            "payments",
            sa.Column("id", sa.Uuid(), primary_key=True),
            sa.Column("order_ref", sa.String(64), nullable=False, unique=True),
            sa.Column("amount_cents", sa.Integer, nullable=False),
            sa.Column("currency", sa.String(3), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            # what the client asked, card included: a resumed payment must be the same one
            sa.Column("request_hash", sa.String(64), nullable=False),
            sa.Column("provider_charge_id", sa.String(64), unique=True),  # None while pending
            sa.Column("refunded_cents", sa.Integer, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
            sa.CheckConstraint(
                "refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refund_bounds"
            ),
        )
        create_index_online("payments", ["created_at", "id"])
        create_table_once(
            "payment_refunds",
            sa.Column("id", sa.Uuid(), primary_key=True),
            sa.Column("payment_id", sa.Uuid(), sa.ForeignKey("payments.id"), nullable=False),
            sa.Column("amount_cents", sa.Integer, nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("provider_refund_id", sa.String(64), unique=True),  # None while pending
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        )
        create_index_online("payment_refunds", ["payment_id"])


def downgrade() -> None:
    op.drop_table("payment_refunds")
    op.drop_table("payments")
