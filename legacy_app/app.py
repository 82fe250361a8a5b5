"""The legacy shop: one Flask app, every view in one module, the "before" of the exhibit.

Ugly on purpose and exempt from the linters. Every deliberate sin is tagged where it
stands with `# SMELL(<tag>)` and catalogued in SMELLS.md. Correct, deterministic and safe
for sequential use: bound SQL parameters only, validated input, JSON errors.
"""
import json
import logging
import os
import re
import smtplib
import threading
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import httpx
from flask import Flask, g, jsonify, request
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from legacy_app import db
from legacy_app.db import analytics_events, cart_items, order_items, orders, products, users

log = logging.getLogger("legacy_app")

# SMELL(global-state): the engine and settings live in module globals, set once by
# create_app() and read from everywhere; nothing can be injected or replaced in a test.
ENGINE = None
SETTINGS = {}

# SMELL(global-cache): a process-global dict of products, filled on read, never bounded.
# A write evicts the entry only in the process that served the write; every other worker
# keeps serving (and charging!) the old price until it restarts.
_PRODUCT_CACHE = {}
# Inside this process the cache is kept right: a write evicts after it commits, and a read
# that overlapped a write (it read the old row) does not store what it read.
_EVICTIONS = {}
_CACHE_LOCK = threading.Lock()
# SEAM(product-generation): the database's count of product writes this cache was filled
# under, and how often the cache was dropped because the count moved (another process, a
# legacy clone or the catalog, changed a product).
_GENERATION = {"seen": None, "drops": 0}

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SKU_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# SMELL(hardcoded-rules): pricing rules and discount codes live inside the web module.
DISCOUNT_CODES = {"SAVE10": ("percent", 10), "WELCOME5": ("fixed", 500)}
TAX_PERCENT = 8
FREE_SHIPPING_FROM_CENTS = 5000
SHIPPING_CENTS = 499
MAX_LINE_QUANTITY = 100
MAX_ID = 2**63 - 1
MAX_BODY_BYTES = 1024 * 1024


def create_app():
    global ENGINE, SETTINGS
    app = Flask("legacy_app")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    app.url_map.converters["int"] = IdConverter  # before any route is added
    SETTINGS = {
        "database_url": db.default_database_url(),
        "payments_url": os.environ.get("PAYMENTS_URL", "http://127.0.0.1:8002").rstrip("/"),
        "smtp_host": os.environ.get("SMTP_HOST", "127.0.0.1"),
        "smtp_port": int(os.environ.get("SMTP_PORT", "8004")),
        "mail_from": os.environ.get("SHOP_FROM_EMAIL", "shop@example.com"),
    }
    ENGINE = db.make_engine(SETTINGS["database_url"])
    # SMELL(schema-at-startup): the app creates its own tables; there is no migration
    # history, so the schema can only ever grow by hand.
    db.create_tables(ENGINE)
    db.forget_schema()  # SEAM(soft-deletes): look at this database's columns afresh
    _PRODUCT_CACHE.clear()
    _GENERATION["seen"] = None  # SEAM(product-generation): another database, another count
    _register(app)
    return app


# ---------------------------------------------------------------- little helpers


class IdConverter(IntegerConverter):
    """An id in a path: ASCII digits, no leading zero. Werkzeug's `\\d+` also takes `٣`
    and `03`, which int() reads as 3: `/orders/٣/cancel` cancelled order 3, and a proxy
    keying on the path's text saw another id than the one served."""

    regex = r"(?:0|[1-9][0-9]*)"


def now():
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def iso(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def err(status, code, message):
    return jsonify({"error": code, "message": message}), status


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class BadBody(Exception):
    """A body refused before its view reads a field of it; answered as the JSON error."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_body():
    data = request.get_data()  # over MAX_CONTENT_LENGTH: 413 before anything else
    if data and not is_json_media_type(request.mimetype):
        # a browser sends text/plain and forms across origins without asking first
        raise BadBody(415, "unsupported_media_type", "send the body as Content-Type: application/json")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return None
    if not isinstance(body, dict):
        return None
    where = lone_surrogate(body)
    if where is not None:
        # JSON may spell "\ud800", but no database, provider or mail server takes it
        raise BadBody(400, "validation_error", f"{where} must be valid Unicode text (it holds a lone surrogate)")
    return body


def is_json_media_type(mimetype):
    kind = mimetype.lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def lone_surrogate(value):
    """Where (`items[0].name`) the first string or key that UTF-8 cannot encode is, else None."""
    todo = [("", value)]  # a loop, not recursion: the body may be nested as deep as json allows
    while todo:
        path, item = todo.pop()
        if isinstance(item, str):
            if not utf8_ok(item):
                return path or "the body"
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                name = f"{path}.{key}" if path else key
                if not utf8_ok(key):
                    return name.encode("utf-8", "backslashreplace").decode()
                todo.append((name, child))
        elif isinstance(item, list):
            todo.extend((f"{path}[{i}]", child) for i, child in reversed(list(enumerate(item))))
    return None


def utf8_ok(text):
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def product_json(row):
    return {
        "id": row["id"],
        "sku": row["sku"],
        "name": row["name"],
        "price_cents": row["price_cents"],
        "stock": row["stock"],
    }


def user_json(row):
    return {"id": row["id"], "email": row["email"], "name": row["name"], "created_at": iso(row["created_at"])}


def load_user(conn, user_id):
    row = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
    return dict(row) if row else None


def cached_product(conn, product_id):
    forget_what_others_changed(conn)
    if product_id in _PRODUCT_CACHE:
        return _PRODUCT_CACHE[product_id]
    seen = cache_stamp(product_id)
    row = conn.execute(select(products).where(products.c.id == product_id, db.live(conn, products))).mappings().first()
    if row is None:
        return None
    cache_product(dict(row), seen)
    return dict(row)


def cache_stamp(product_id):
    return (_GENERATION["drops"], _EVICTIONS.get(product_id, 0))


def cache_product(product, seen):
    with _CACHE_LOCK:
        if cache_stamp(product["id"]) == seen:  # no write (nor drop) since the read began
            _PRODUCT_CACHE[product["id"]] = product


def forget_what_others_changed(conn):
    """SEAM(product-generation): once per request, drop every cached product if any
    process has changed a product since this cache was filled."""
    if g.get("product_generation_read"):
        return
    g.product_generation_read = True
    generation = db.product_generation(conn)
    with _CACHE_LOCK:
        if generation != _GENERATION["seen"]:
            _PRODUCT_CACHE.clear()
            _GENERATION["drops"] += 1
            _GENERATION["seen"] = generation


def evict_product(product_id):
    with _CACHE_LOCK:
        _EVICTIONS[product_id] = _EVICTIONS.get(product_id, 0) + 1
        _PRODUCT_CACHE.pop(product_id, None)


def cart_json(conn, user_id):
    # SMELL(n-plus-one): one query for the cart, then one product lookup per line.
    rows = conn.execute(
        select(cart_items).where(cart_items.c.user_id == user_id, db.of_live_product(conn)).order_by(cart_items.c.id)
    ).mappings().all()
    items = []
    subtotal = 0
    for row in rows:
        product = cached_product(conn, row["product_id"])
        if product is None:
            continue
        line_total = product["price_cents"] * row["quantity"]
        subtotal += line_total
        items.append({
            "product_id": product["id"],
            "name": product["name"],
            "unit_price_cents": product["price_cents"],
            "quantity": row["quantity"],
            "line_total_cents": line_total,
        })
    return {"user_id": user_id, "items": items, "subtotal_cents": subtotal}


def order_json(conn, order):
    # SMELL(n-plus-one): every order fetches its own items with a query of its own.
    item_rows = conn.execute(
        select(order_items).where(order_items.c.order_id == order["id"]).order_by(order_items.c.id)
    ).mappings().all()
    return {
        "id": order["id"],
        "user_id": order["user_id"],
        "status": order["status"],
        "items": [
            {
                "product_id": item["product_id"],
                "name": item["product_name"],
                "unit_price_cents": item["unit_price_cents"],
                "quantity": item["quantity"],
                "line_total_cents": item["unit_price_cents"] * item["quantity"],
            }
            for item in item_rows
        ],
        "subtotal_cents": order["subtotal_cents"],
        "discount_code": order["discount_code"],
        "discount_cents": order["discount_cents"],
        "shipping_cents": order["shipping_cents"],
        "tax_cents": order["tax_cents"],
        "total_cents": order["total_cents"],
        "charge_id": order["charge_id"],
        "created_at": iso(order["created_at"]),
    }


def validate_product_fields(body, partial):
    allowed = {"sku", "name", "price_cents", "stock"} if not partial else {"name", "price_cents", "stock"}
    unknown = set(body) - allowed
    if unknown:
        return "unknown field(s): " + ", ".join(sorted(unknown))
    if partial and not body:
        return "give at least one of name, price_cents, stock"
    if not partial:
        missing = [f for f in ("sku", "name", "price_cents", "stock") if f not in body]
        if missing:
            return "missing field(s): " + ", ".join(missing)
        if not isinstance(body["sku"], str) or not SKU_RE.match(body["sku"]):
            return "sku must be 1-64 characters of A-Z a-z 0-9 - _"
    if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip() or len(body["name"]) > 200):
        return "name must be a non-empty string of at most 200 characters"
    if "price_cents" in body and (not is_int(body["price_cents"]) or not 0 <= body["price_cents"] <= 100_000_000):
        return "price_cents must be an integer from 0 to 100000000"
    if "stock" in body and (not is_int(body["stock"]) or not 0 <= body["stock"] <= 1_000_000):
        return "stock must be an integer from 0 to 1000000"
    return None


def unknown_card(response):
    """The provider knows no such card: as final as a decline (not "the provider failed")."""
    try:
        return response.status_code == 400 and response.json()["error"]["type"] == "invalid_card_token"
    except (ValueError, KeyError, TypeError):
        return False


def send_email(to, subject, body):
    message = EmailMessage()
    message["From"] = SETTINGS["mail_from"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    # SMELL(sync-email): the customer waits while we talk SMTP; a slow mail server makes
    # every checkout slow, and a dead one... see process_order().
    with smtplib.SMTP(SETTINGS["smtp_host"], SETTINGS["smtp_port"], timeout=30) as smtp:
        smtp.send_message(message)


# ---------------------------------------------------------------- views


def _register(app):
    @app.errorhandler(HTTPException)
    def http_error(exc):
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 400: "invalid_json", 415: "unsupported_media_type"}
        if exc.code == 413 and (request.content_length or 0) <= 8 * MAX_BODY_BYTES:
            # read and drop the refused body, so the keep-alive connection gunicorn
            # promises is really usable for the next request
            stream = request.environ["wsgi.input"]
            while stream.read(65536):
                pass
        return err(exc.code, codes.get(exc.code, "http_error"), exc.description or exc.name)

    @app.errorhandler(BadBody)
    def bad_body(exc):
        return err(exc.status, exc.code, exc.message)

    @app.url_value_preprocessor
    def ids_in_range(endpoint, values):
        # ids are 64-bit integers in the database: a larger one names nothing, so it is
        # looked up as 0 (never an id) and the view answers its own 404
        for name, value in (values or {}).items():
            if name.endswith("_id") and isinstance(value, int) and value > MAX_ID:
                values[name] = 0

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unexpected error")
        return err(500, "internal_error", "something went wrong")

    @app.get("/healthz")
    def healthz():
        with ENGINE.connect() as conn:
            conn.execute(text("SELECT 1"))
        return jsonify({"status": "ok"})

    # -------------------------------------------------------- users
    # SMELL(no-versioning): every path is unversioned; the only way to change a response
    # shape is to break every client at once.

    @app.post("/users")
    def create_user():
        body = json_body()
        if body is None:
            return err(400, "invalid_json", "body must be a JSON object")
        email = body.get("email")
        name = body.get("name")
        if not isinstance(email, str) or len(email) > 255 or not EMAIL_RE.match(email):
            return err(400, "validation_error", "email must be an e-mail address")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            return err(400, "validation_error", "name must be a non-empty string of at most 200 characters")
        email = email.strip().lower()
        created_at = now()
        try:
            with ENGINE.begin() as conn:
                new_id = conn.execute(
                    insert(users).values(email=email, name=name, created_at=created_at)
                ).inserted_primary_key[0]
        except IntegrityError:
            return err(409, "email_taken", "a user with this e-mail already exists")
        return jsonify(user_json({"id": new_id, "email": email, "name": name, "created_at": created_at})), 201

    @app.get("/users/<int:user_id>")
    def get_user(user_id):
        with ENGINE.connect() as conn:
            user = load_user(conn, user_id)
        if user is None:
            return err(404, "user_not_found", f"no user {user_id}")
        return jsonify(user_json(user))

    # -------------------------------------------------------- products

    @app.get("/products")
    def list_products():
        # SMELL(unbounded-list): every product, every time, no page size.
        seen = dict(_EVICTIONS)
        drops = _GENERATION["drops"]  # SEAM(product-generation): a drop meanwhile stores nothing
        with ENGINE.connect() as conn:
            rows = conn.execute(select(products).where(db.live(conn, products)).order_by(products.c.id)).mappings().all()
        for row in rows:
            cache_product(dict(row), (drops, seen.get(row["id"], 0)))
        return jsonify({"products": [product_json(row) for row in rows]})

    @app.get("/products/<int:product_id>")
    def get_product(product_id):
        with ENGINE.connect() as conn:
            product = cached_product(conn, product_id)
        if product is None:
            return err(404, "product_not_found", f"no product {product_id}")
        return jsonify(product_json(product))

    @app.post("/products")
    def create_product():
        body = json_body()
        if body is None:
            return err(400, "invalid_json", "body must be a JSON object")
        problem = validate_product_fields(body, partial=False)
        if problem:
            return err(400, "validation_error", problem)
        ts = now()
        values = {
            "sku": body["sku"],
            "name": body["name"],
            "price_cents": body["price_cents"],
            "stock": body["stock"],
            "created_at": ts,
            "updated_at": ts,
        }
        try:
            with ENGINE.begin() as conn:
                values["id"] = conn.execute(insert(products).values(**values)).inserted_primary_key[0]
        except IntegrityError:
            return err(409, "sku_taken", "a product with this sku already exists")
        return jsonify(product_json(values)), 201

    @app.patch("/products/<int:product_id>")
    def update_product(product_id):
        body = json_body()
        if body is None:
            return err(400, "invalid_json", "body must be a JSON object")
        problem = validate_product_fields(body, partial=True)
        if problem:
            return err(400, "validation_error", problem)
        with ENGINE.begin() as conn:
            result = conn.execute(update(products).where(products.c.id == product_id, db.live(conn, products)).values(updated_at=now(), **body))
            if result.rowcount == 0:
                return err(404, "product_not_found", f"no product {product_id}")
            row = conn.execute(select(products).where(products.c.id == product_id)).mappings().first()
        evict_product(product_id)  # SMELL(global-cache): this process only
        return jsonify(product_json(row))

    @app.delete("/products/<int:product_id>")
    def delete_product(product_id):
        with ENGINE.begin() as conn:
            # SMELL(hard-delete): the row is gone for good: no undo, no audit trail, and
            # analytics rows and order lines keep an id that now points at nothing.
            result = conn.execute(delete(products).where(products.c.id == product_id, db.live(conn, products)))
            if result.rowcount == 0:
                return err(404, "product_not_found", f"no product {product_id}")
            conn.execute(delete(cart_items).where(cart_items.c.product_id == product_id))
        evict_product(product_id)
        return "", 204

    # -------------------------------------------------------- cart

    @app.get("/users/<int:user_id>/cart")
    def get_cart(user_id):
        with ENGINE.connect() as conn:
            if load_user(conn, user_id) is None:
                return err(404, "user_not_found", f"no user {user_id}")
            return jsonify(cart_json(conn, user_id))

    @app.post("/users/<int:user_id>/cart/items")
    def add_to_cart(user_id):
        body = json_body()
        if body is None:
            return err(400, "invalid_json", "body must be a JSON object")
        product_id = body.get("product_id")
        quantity = body.get("quantity")
        if not is_int(product_id) or product_id > MAX_ID:
            return err(400, "validation_error", "product_id must be a 64-bit integer")
        if not is_int(quantity) or not 1 <= quantity <= MAX_LINE_QUANTITY:
            return err(400, "validation_error", f"quantity must be an integer from 1 to {MAX_LINE_QUANTITY}")
        with ENGINE.begin() as conn:
            if load_user(conn, user_id) is None:
                return err(404, "user_not_found", f"no user {user_id}")
            if cached_product(conn, product_id) is None:
                return err(404, "product_not_found", f"no product {product_id}")
            line = conn.execute(
                select(cart_items).where(cart_items.c.user_id == user_id, cart_items.c.product_id == product_id, db.of_live_product(conn))
            ).mappings().first()
            if line is None:
                conn.execute(insert(cart_items).values(user_id=user_id, product_id=product_id, quantity=quantity, added_at=now()))
            else:
                if line["quantity"] + quantity > MAX_LINE_QUANTITY:
                    return err(400, "validation_error", f"a cart line holds at most {MAX_LINE_QUANTITY}")
                conn.execute(update(cart_items).where(cart_items.c.id == line["id"]).values(quantity=line["quantity"] + quantity))
            return jsonify(cart_json(conn, user_id))

    @app.delete("/users/<int:user_id>/cart/items/<int:product_id>")
    def remove_from_cart(user_id, product_id):
        with ENGINE.begin() as conn:
            if load_user(conn, user_id) is None:
                return err(404, "user_not_found", f"no user {user_id}")
            result = conn.execute(
                delete(cart_items).where(cart_items.c.user_id == user_id, cart_items.c.product_id == product_id, db.of_live_product(conn))
            )
            if result.rowcount == 0:
                return err(404, "item_not_found", f"product {product_id} is not in the cart")
            return jsonify(cart_json(conn, user_id))

    # -------------------------------------------------------- checkout

    @app.post("/users/<int:user_id>/checkout")
    def process_order(user_id):
        # SMELL(god-function): validation, pricing, payment, stock, persistence, e-mail,
        # analytics and cart clean-up in one view; none of it can be tested, reused,
        # retried or scaled on its own.
        body = json_body()
        if body is None:
            return err(400, "invalid_json", "body must be a JSON object")
        card_token = body.get("card_token")
        if not isinstance(card_token, str) or not card_token:
            return err(400, "validation_error", "card_token must be a non-empty string")
        discount_code = body.get("discount_code")
        if discount_code is not None and not isinstance(discount_code, str):
            return err(400, "validation_error", "discount_code must be a string")

        with ENGINE.connect() as conn:
            user = load_user(conn, user_id)
            if user is None:
                return err(404, "user_not_found", f"no user {user_id}")
            lines = conn.execute(
                select(cart_items).where(cart_items.c.user_id == user_id, db.of_live_product(conn)).order_by(cart_items.c.id)
            ).mappings().all()
            if not lines:
                return err(422, "cart_empty", "the cart is empty")

            # validate the cart: one query per line (n+1 again)
            priced = []
            for line in lines:
                # SMELL(stock-race): stock is read here and written back minus the
                # quantity much later (after a slow payment call), with no lock and no
                # condition: two concurrent checkouts both see the last unit and both sell it.
                fresh = conn.execute(select(products).where(products.c.id == line["product_id"])).mappings().first()
                if fresh is None:
                    return err(422, "product_unavailable", f"product {line['product_id']} is no longer sold")
                if fresh["stock"] < line["quantity"]:
                    return err(409, "out_of_stock", f"only {fresh['stock']} of {fresh['name']} left")
                # the price comes from the process-global cache (see SMELL(global-cache))
                product = cached_product(conn, line["product_id"]) or dict(fresh)
                priced.append((line, product, fresh["stock"]))

        # pricing
        subtotal = sum(product["price_cents"] * line["quantity"] for line, product, _ in priced)
        discount = 0
        code = None
        if discount_code:
            code = discount_code.strip().upper()
            if code not in DISCOUNT_CODES:
                return err(422, "invalid_discount_code", f"unknown discount code {discount_code!r}")
            kind, amount = DISCOUNT_CODES[code]
            discount = subtotal * amount // 100 if kind == "percent" else min(amount, subtotal)
        taxable = subtotal - discount
        shipping = SHIPPING_CENTS if taxable < FREE_SHIPPING_FROM_CENTS else 0
        tax = (taxable * TAX_PERCENT + 50) // 100
        total = taxable + shipping + tax

        # charge the card
        try:
            # SMELL(sync-payment): a 30 s synchronous call in the request thread; when the
            # provider slows down, every worker thread ends up parked here.
            # SMELL(no-idempotency): no Idempotency-Key; if the answer is lost (timeout)
            # after the provider charged, the customer's retry charges them again.
            response = httpx.post(
                SETTINGS["payments_url"] + "/v1/charges",
                json={
                    "amount_cents": total,
                    "currency": "usd",
                    "card_token": card_token,
                    "description": f"Order for {user['email']}",
                },
                timeout=30,
            )
        except httpx.HTTPError as exc:
            log.warning("payment provider unreachable: %s", exc)
            return err(502, "payment_failed", "the payment provider could not be reached")
        if response.status_code == 402 or unknown_card(response):
            return err(402, "card_declined", "the card was declined")
        if response.status_code != 201:
            log.warning("payment provider answered %s: %s", response.status_code, response.text[:200])
            return err(502, "payment_failed", "the payment provider failed")
        charge_id = response.json()["id"]

        # deduct stock and write the order
        # SMELL(charge-then-write): the card is charged first and the order written after,
        # in a transaction of its own: if that fails (a deadlock, the database gone, the
        # process killed), the customer is charged with no order, and nothing gives it back.
        created_at = now()
        with ENGINE.begin() as conn:
            for line, product, stock_seen in priced:
                conn.execute(
                    update(products)
                    .where(products.c.id == line["product_id"])
                    .values(stock=stock_seen - line["quantity"], updated_at=created_at)
                )
            order_id = conn.execute(
                insert(orders).values(
                    user_id=user_id,
                    status="placed",
                    subtotal_cents=subtotal,
                    discount_code=code,
                    discount_cents=discount,
                    shipping_cents=shipping,
                    tax_cents=tax,
                    total_cents=total,
                    charge_id=charge_id,
                    email_sent=False,
                    created_at=created_at,
                )
            ).inserted_primary_key[0]
            for line, product, _ in priced:
                conn.execute(
                    insert(order_items).values(
                        order_id=order_id,
                        product_id=product["id"],
                        product_name=product["name"],
                        unit_price_cents=product["price_cents"],
                        quantity=line["quantity"],
                    )
                )
        for line, product, _ in priced:  # once committed: a read before that would cache the old row again
            evict_product(line["product_id"])

        # confirmation e-mail
        try:
            send_email(
                user["email"],
                f"Your order #{order_id}",
                f"Hello {user['name']},\n\nthank you for order #{order_id}.\n"
                f"Total charged: {total / 100:.2f} USD.\n",
            )
            with ENGINE.begin() as conn:
                conn.execute(update(orders).where(orders.c.id == order_id).values(email_sent=True))
        except (OSError, smtplib.SMTPException) as exc:
            # SMELL(lost-message): no outbox, no retry: if the mail server is down the
            # confirmation is simply never sent, and only this log line knows.
            log.error("confirmation e-mail for order %s not sent: %s", order_id, exc)

        # analytics, in the request path
        # SMELL(sync-analytics): a reporting write on the customer's clock.
        with ENGINE.begin() as conn:
            conn.execute(
                insert(analytics_events).values(
                    name="order_placed",
                    user_id=user_id,
                    order_id=order_id,
                    amount_cents=total,
                    payload=json.dumps({"items": len(priced), "discount_code": code}),
                    created_at=created_at,
                )
            )
            conn.execute(delete(cart_items).where(cart_items.c.user_id == user_id))
            order = conn.execute(select(orders).where(orders.c.id == order_id)).mappings().first()
            return jsonify(order_json(conn, order)), 201

    # -------------------------------------------------------- orders

    @app.get("/users/<int:user_id>/orders")
    def list_orders(user_id):
        with ENGINE.connect() as conn:
            if load_user(conn, user_id) is None:
                return err(404, "user_not_found", f"no user {user_id}")
            # SMELL(unbounded-list) + SMELL(missing-index): all of a user's orders, found by a
            # full scan of orders (no index on user_id), then n+1 item queries.
            rows = conn.execute(
                select(orders).where(orders.c.user_id == user_id, db.live(conn, orders)).order_by(orders.c.created_at.desc(), orders.c.id.desc())
            ).mappings().all()
            return jsonify({"orders": [order_json(conn, row) for row in rows]})

    @app.get("/orders/<int:order_id>")
    def get_order(order_id):
        with ENGINE.connect() as conn:
            row = conn.execute(select(orders).where(orders.c.id == order_id, db.live(conn, orders))).mappings().first()
            if row is None:
                return err(404, "order_not_found", f"no order {order_id}")
            return jsonify(order_json(conn, row))

    @app.post("/orders/<int:order_id>/cancel")
    def cancel_order(order_id):
        with ENGINE.connect() as conn:
            order = conn.execute(select(orders).where(orders.c.id == order_id, db.live(conn, orders))).mappings().first()
            if order is None:
                return err(404, "order_not_found", f"no order {order_id}")
            order = dict(order)
            items = conn.execute(select(order_items).where(order_items.c.order_id == order_id)).mappings().all()
        try:
            response = httpx.post(
                SETTINGS["payments_url"] + "/v1/refunds", json={"charge_id": order["charge_id"]}, timeout=30
            )
        except httpx.HTTPError as exc:
            log.warning("payment provider unreachable: %s", exc)
            return err(502, "refund_failed", "the payment provider could not be reached")
        if response.status_code != 201:
            log.warning("refund for order %s failed: %s %s", order_id, response.status_code, response.text[:200])
            return err(502, "refund_failed", "the payment provider refused the refund")
        refund = response.json()
        with ENGINE.begin() as conn:
            for item in items:
                row = conn.execute(select(products.c.stock).where(products.c.id == item["product_id"])).first()
                if row is not None:  # the product may have been hard-deleted meanwhile
                    conn.execute(
                        update(products).where(products.c.id == item["product_id"]).values(stock=row[0] + item["quantity"], updated_at=now())
                    )
            # SMELL(hard-delete): a cancelled order is deleted, lines and all: support,
            # finance and the sales report can no longer see that it ever existed.
            conn.execute(delete(order_items).where(order_items.c.order_id == order_id))
            conn.execute(delete(orders).where(orders.c.id == order_id))
            conn.execute(
                insert(analytics_events).values(
                    name="order_cancelled", user_id=order["user_id"], order_id=order_id,
                    amount_cents=refund["amount_cents"], payload=None, created_at=now(),
                )
            )
        for item in items:  # once committed, as in checkout
            evict_product(item["product_id"])
        return jsonify({"id": order_id, "status": "cancelled", "refund_id": refund["id"], "refunded_cents": refund["amount_cents"]})

    # -------------------------------------------------------- report

    @app.get("/reports/sales")
    def sales_report():
        start = request.args.get("from", "")
        end = request.args.get("to", "")
        try:
            if not DATE_RE.match(start) or not DATE_RE.match(end):
                raise ValueError
            start_day = datetime.strptime(start, "%Y-%m-%d")
            end_day = datetime.strptime(end, "%Y-%m-%d")
        except ValueError:
            return err(400, "validation_error", "from and to must be dates as YYYY-MM-DD")
        if start_day > end_day:
            return err(400, "validation_error", "from must not be after to")
        if end_day.year == 9999:
            return err(400, "validation_error", "to must be before 9999-12-31")
        with ENGINE.connect() as conn:
            # SMELL(report-scan): the report loads every order in the range into memory,
            # then its items one order at a time, on every request, from the primary.
            rows = conn.execute(
                select(orders).where(orders.c.created_at >= start_day, orders.c.created_at < end_day + timedelta(days=1), db.live(conn, orders))
            ).mappings().all()
            revenue = 0
            units = 0
            by_product = {}
            for order in rows:
                revenue += order["total_cents"]
                for item in conn.execute(select(order_items).where(order_items.c.order_id == order["id"])).mappings():
                    units += item["quantity"]
                    entry = by_product.setdefault(
                        item["product_id"],
                        {"product_id": item["product_id"], "name": item["product_name"], "units": 0, "revenue_cents": 0},
                    )
                    entry["units"] += item["quantity"]
                    entry["revenue_cents"] += item["unit_price_cents"] * item["quantity"]
        top = sorted(by_product.values(), key=lambda e: (-e["revenue_cents"], e["product_id"]))[:10]
        return jsonify({
            "from": start,
            "to": end,
            "order_count": len(rows),
            "revenue_cents": revenue,
            "units_sold": units,
            "top_products": top,
        })
