"""Expand: indexes for what the payments settler asks every 30 seconds.

The settler and the unsettled alarm look for payments and refunds by status and age
(`status = 'pending' AND updated_at < ...`, the voided payments it asks about again).
Without these indexes each round reads the whole of both tables: nothing at a
thousand payments, a scan every 30 seconds at millions, for a handful of rows.

It goes before the contract step (`0006_contract_orders`), as every expand does while
that step is still pending everywhere (migrations/README.md).

Revision ID: 0005c_payments_settling_indexes
Revises: 0005b_payment_references
"""

from __future__ import annotations

from migrations.ops import create_index_online, drop_index_online, short_transactions

revision = "0005c_payments_settling_indexes"
down_revision = "0005b_payment_references"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: the legacy app keeps working

LOSES_ON_DOWNGRADE = None  # indexes only: not a row is lost


def upgrade() -> None:
    with short_transactions():
        create_index_online("payments", ["status", "updated_at"])
        create_index_online("payment_refunds", ["status", "created_at"])


def downgrade() -> None:
    with short_transactions():
        drop_index_online("payment_refunds", ["status", "created_at"])
        drop_index_online("payments", ["status", "updated_at"])
