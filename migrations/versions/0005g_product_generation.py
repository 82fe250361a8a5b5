"""Expand: `product_generation`, a count of the product changes a cache must not miss.

While a product route is in canary, legacy (one or more processes, each with its own
`SMELL(global-cache)`) and the catalog (a Redis cache) both cache products, and each
writes products the other caches: a price the catalog changes, a product it deletes
softly, a price legacy changes. Triggers count every such write in one row, in the
writer's own transaction, whoever made it and through whichever code: a change of
`sku`, `name`, `price_cents` or `deleted_at`, and a delete. A cache remembers the count
it was filled under and drops what it holds when the count has moved (legacy:
`SEAM(product-generation)`; the catalog: new_services/catalog/generation.py), so a
change is seen by every process on its next request.

Stock moves are not counted: a checkout updates several product rows in one
transaction, and counting them would queue every checkout on this one row (and could
deadlock two of them, each holding a product the other needs). Each cache's stock keeps
the bound it had (legacy: its own writes; the catalog: its holds, else the TTL), and
both sides read stock afresh where it matters (checkout, holds).

Revision ID: 0005g_product_generation
Revises: 0005f_capture_legacy_orders
"""

# ruff: noqa: S608 -- the SQL here is built from this module's constants, never from input

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import create_table_once, dialect, short_transactions

revision = "0005g_product_generation"
down_revision = "0005f_capture_legacy_orders"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: legacy reads the count once it exists, and not before

LOSES_ON_DOWNGRADE = (
    "nothing kept: the caches no longer hear of each other's product writes "
    "(legacy serves another process's old prices again)"
)

TABLE = "product_generation"
WATCHED = ("sku", "name", "price_cents", "deleted_at")
_TRIGGERS = ("product_generation_changed", "product_generation_removed")
_BUMP = f"UPDATE {TABLE} SET generation = generation + 1 WHERE id = 1"


def _changed(distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in WATCHED)


def _sqlite() -> list[str]:
    return [
        f"""CREATE TRIGGER IF NOT EXISTS product_generation_changed
        AFTER UPDATE OF {", ".join(WATCHED)} ON products
        FOR EACH ROW WHEN {_changed("IS NOT")} BEGIN {_BUMP}; END""",
        f"""CREATE TRIGGER IF NOT EXISTS product_generation_removed AFTER DELETE ON products
        FOR EACH ROW BEGIN {_BUMP}; END""",
    ]


def _postgresql() -> list[str]:
    return [
        f"""CREATE OR REPLACE FUNCTION bump_product_generation() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN {_BUMP}; RETURN NULL; END $$""",
        "DROP TRIGGER IF EXISTS product_generation_changed ON products",
        f"""CREATE TRIGGER product_generation_changed
        AFTER UPDATE OF {", ".join(WATCHED)} ON products
        FOR EACH ROW WHEN ({_changed("IS DISTINCT FROM")})
        EXECUTE FUNCTION bump_product_generation()""",
        "DROP TRIGGER IF EXISTS product_generation_removed ON products",
        """CREATE TRIGGER product_generation_removed AFTER DELETE ON products
        FOR EACH ROW EXECUTE FUNCTION bump_product_generation()""",
    ]


def upgrade() -> None:
    with short_transactions():
        create_table_once(
            TABLE,
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("generation", sa.BigInteger(), nullable=False),
        )
        op.execute(
            f"INSERT INTO {TABLE} (id, generation) SELECT 1, 0 "
            f"WHERE NOT EXISTS (SELECT 1 FROM {TABLE} WHERE id = 1)"
        )
        for statement in _postgresql() if dialect() == "postgresql" else _sqlite():
            op.execute(statement)


def downgrade() -> None:
    for name in _TRIGGERS:
        if dialect() == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON products")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if dialect() == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS bump_product_generation()")
    op.drop_table(TABLE)
