"""The legacy shop's tables, created by the app itself at start-up (no migrations)."""
import os
import time

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    literal_column,
    select,
    text,
    true,
)

metadata = MetaData()

# SMELL(int-ids): every table keys on an auto-increment integer. Ids leak volume and
# order, collide when two databases merge, and can only be minted by the one primary.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(255), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sku", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("stock", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# SMELL(missing-index): cart_items.user_id, orders.user_id, orders.created_at and
# order_items.order_id are filtered on by every cart, history and report request, and
# none of them is indexed (nor declared as a foreign key).
cart_items = Table(
    "cart_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("added_at", DateTime, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("subtotal_cents", Integer, nullable=False),
    Column("discount_code", String(32)),
    Column("discount_cents", Integer, nullable=False),
    Column("shipping_cents", Integer, nullable=False),
    Column("tax_cents", Integer, nullable=False),
    Column("total_cents", Integer, nullable=False),
    Column("charge_id", String(64)),
    Column("email_sent", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

order_items = Table(
    "order_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("product_name", String(200), nullable=False),
    Column("unit_price_cents", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
)

analytics_events = Table(
    "analytics_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False),
    Column("user_id", Integer),
    Column("order_id", Integer),
    Column("amount_cents", Integer),
    Column("payload", Text),
    Column("created_at", DateTime, nullable=False),
)


def default_database_url():
    return os.environ.get("DATABASE_URL") or "sqlite:///shop.db"


def make_engine(url=None):
    url = url or default_database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # DATABASE_POOL_SIZE / DATABASE_MAX_OVERFLOW: as the services read them (CI's stacks share
    # one PostgreSQL server of 100 connections)
    pool = os.environ.get("DATABASE_POOL_SIZE", "")
    overflow = os.environ.get("DATABASE_MAX_OVERFLOW", "")
    return create_engine(
        url,
        pool_size=int(pool) if pool.isdigit() else 20,
        max_overflow=int(overflow) if overflow.isdigit() else 10,
        pool_pre_ping=True,
    )


def create_tables(engine):
    metadata.create_all(engine)


# ---------------------------------------------------------------- coexistence
#
# SEAM(soft-deletes): the first change this app got for the migration. Once the expand step
# (0003) has given products and orders a `deleted_at`, the extracted services delete
# softly; while a route is in canary, legacy serves some of the same users and must not
# see what a service deleted. The schema is looked at again at most every few seconds,
# so an expand run while the app serves is noticed without a restart. Nothing else
# changes: legacy itself still deletes for good (SMELL(hard-delete)). Its product cache
# hears of another process's writes only through SEAM(product-generation) below.

_SOFT_DELETES_CHECKED_EVERY_S = 5.0
_soft_deletes = {"checked_at": None, "tables": frozenset(), "generation": False}


def soft_deleting(conn):
    """The tables that have a deleted_at column right now (checked every few seconds)."""
    checked_at = _soft_deletes["checked_at"]
    if checked_at is None or time.monotonic() - checked_at > _SOFT_DELETES_CHECKED_EVERY_S:
        found = inspect(conn)
        _soft_deletes["tables"] = frozenset(
            table.name
            for table in (products, orders)
            if any(column["name"] == "deleted_at" for column in found.get_columns(table.name))
        )
        _soft_deletes["generation"] = found.has_table("product_generation")
        _soft_deletes["checked_at"] = time.monotonic()
    return _soft_deletes["tables"]


# SEAM(product-generation): once the expand step 0005g has made it, `product_generation`
# counts every product write a cache must not miss (price, name, sku, delete), whoever
# made it: another legacy process, or the catalog. One primary-key read per request.
def product_generation(conn):
    """The count of product writes so far, or None before the expand step made it."""
    soft_deleting(conn)
    if not _soft_deletes["generation"]:
        return None
    return conn.execute(text("SELECT generation FROM product_generation WHERE id = 1")).scalar()


def forget_schema():
    _soft_deletes["checked_at"] = None


def live(conn, table):
    """A condition that keeps out the rows of `table` a service deleted softly."""
    if table.name in soft_deleting(conn):
        return literal_column(f"{table.name}.deleted_at").is_(None)
    return true()


def of_live_product(conn):
    """A condition on cart_items that keeps out lines whose product a service deleted
    (legacy's own delete removes them: SMELL(hard-delete))."""
    if products.name in soft_deleting(conn):
        gone = select(products.c.id).where(literal_column("products.deleted_at").is_not(None))
        return cart_items.c.product_id.not_in(gone)
    return true()
