"""The whole stack as `strangler up` starts it, with clients for its gateway, its admin API
and the payment provider: what the end-to-end tests drive."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, insert, text

from legacy_app import db
from migrations.database import make_engine
from strangler.parts import admin_token
from strangler.runner import Stack
from strangler.settings import Settings
from tests.conftest import stack_settings
from tests.contract.support import Provider, unique_email, unique_sku

Json = dict[str, Any]
STRANGLER = str(Path(sys.executable).with_name("strangler"))


@dataclass
class Shop:
    settings: Settings
    public: httpx.Client
    admin: httpx.Client
    provider: Provider
    engine: Engine
    stack: Stack

    def route(self, name: str, **change: Any) -> None:
        response = self.admin.patch(f"/routes/{name}", json={**change, "reason": "e2e test"})
        assert response.status_code == 200, response.text

    def product(self, stock: int, price_cents: int = 1_500) -> Json:
        sku = unique_sku()
        body = {"sku": sku, "name": f"Widget {sku}", "price_cents": price_cents, "stock": stock}
        response = self.public.post("/products", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def buyer_with(self, product: Json, quantity: int = 1) -> Json:
        response = self.public.post("/users", json={"email": unique_email(), "name": "Buyer"})
        assert response.status_code == 201, response.text
        user = dict(response.json())
        line = {"product_id": product["id"], "quantity": quantity}
        added = self.public.post(f"/users/{user['id']}/cart/items", json=line)
        assert added.status_code == 200, added.text
        return user

    def buyers_in_bulk(self, count: int, stock: int, price_cents: int, quantity: int) -> list[Json]:
        """`count` users, each with a product of its own in its cart, written straight into
        the tables in one transaction (the API would take minutes for a thousand): for
        tests about what comes next, not about how carts are made."""
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        tag = uuid.uuid4().hex[:12]
        made = []
        with self.engine.begin() as conn:
            for n in range(count):
                user = conn.execute(
                    insert(db.users).values(
                        email=f"bulk-{tag}-{n}@example.com", name="Buyer", created_at=now
                    )
                ).inserted_primary_key[0]
                product = conn.execute(
                    insert(db.products).values(
                        sku=f"BULK-{tag}-{n}",
                        name=f"Widget {tag}-{n}",
                        price_cents=price_cents,
                        stock=stock,
                        created_at=now,
                        updated_at=now,
                    )
                ).inserted_primary_key[0]
                conn.execute(
                    insert(db.cart_items).values(
                        user_id=user, product_id=product, quantity=quantity, added_at=now
                    )
                )
                made.append({"id": user, "product_id": product})
        return made

    def states(self, query: str) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(str(state) for state in conn.execute(text(query)).scalars())

    def cli_env(self) -> dict[str, str]:
        """The environment `strangler` needs to act on this stack."""
        return {
            **os.environ,
            "STRANGLER_HOME": str(self.settings.home),
            "STRANGLER_PORT_BASE": str(self.settings.port_base),
            "STRANGLER_NAMESPACE": self.settings.namespace,
            "DATABASE_URL": self.settings.shop_database_url,
        }

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`strangler ARGS...` against this stack, as an operator types it."""
        return subprocess.run(
            [STRANGLER, *args],
            env=self.cli_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def group_members(pgids: set[int]) -> set[int]:
    """Every live process whose process group is one of `pgids` (Linux /proc)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgid = fields[0], int(fields[2])
        if pgid in pgids and state != "Z":
            members.add(int(entry.name))
    return members


@contextmanager
def started_shop(home: Path) -> Iterator[Shop]:
    settings = stack_settings(home)
    stack = Stack(settings)
    stack.up()
    engine = make_engine(settings.shop_database_url)
    headers = {"Authorization": f"Bearer {admin_token(settings)}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with (
        httpx.Client(base_url=settings.url("gateway"), timeout=60, limits=limits) as public,
        httpx.Client(base_url=settings.url("gateway-admin"), headers=headers) as admin,
        httpx.Client(base_url=settings.url("payments"), timeout=30) as provider,
    ):
        try:
            yield Shop(settings, public, admin, Provider(provider), engine, stack)
        finally:
            engine.dispose()
            stack.down()
