"""The payments service's tables, as 0005_expand_payments and 0005b_payment_references
made them (0005c_payments_settling_indexes adds indexes only)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Uuid

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("order_ref", String(64), nullable=False, unique=True),
    Column("amount_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("provider_charge_id", String(64), unique=True),
    Column("refunded_cents", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("provider_reference", String(64)),  # None: made before the provider had one
)

payment_refunds = Table(
    "payment_refunds",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("payment_id", Uuid, ForeignKey("payments.id"), nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("provider_refund_id", String(64), unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
