"""Expand: the reference the payment provider knows each payment's charge by.

The payments service charges with `provider_reference` (the payment's id) as the merchant
reference, and its settler asks the provider for the charges made with it when a
payment's answer was lost and its client never came back. A payment made before this
step has none: the provider never saw a reference for it, so no charge found by one
proves it was never charged; the settler leaves such a payment to the unsettled alarm,
and its retries go on sending the same body as its first attempt.

It goes before the contract step (`0006_contract_orders`), as every expand does while
that step is still pending everywhere (migrations/README.md).

Revision ID: 0005b_payment_references
Revises: 0005_expand_payments
"""

from __future__ import annotations

import sqlalchemy as sa

from migrations.ops import add_column_once, rebuilt, short_transactions

revision = "0005b_payment_references"
down_revision = "0005_expand_payments"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: the legacy app keeps working

LOSES_ON_DOWNGRADE = (
    "the payments' provider references: the settler can no longer close a payment left "
    "pending (they go to the unsettled alarm)"
)


def upgrade() -> None:
    with short_transactions():
        column = sa.Column("provider_reference", sa.String(64), nullable=True)
        add_column_once("payments", column)


def downgrade() -> None:
    with rebuilt("payments") as batch:
        batch.drop_column("provider_reference")
