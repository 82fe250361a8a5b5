"""Dry runs: a service keeps nothing only when the gateway proves it asked, and a mirror's
proof never carries a secret a sample could show (new_services/platform/dry_run.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from legacy_app import db
from migrations import history
from new_services.catalog.app import create_app as catalog_app
from new_services.catalog.settings import CatalogSettings
from new_services.payments.app import create_app as payments_app
from new_services.payments.settings import PaymentsSettings
from new_services.platform.dry_run import sign
from stand_ins.payments.app import create_app as provider_app
from stand_ins.payments.settings import PaymentsSettings as ProviderSettings
from tests.contract.support import card_token
from tests.integration.gateways import INTERNAL_TOKEN, GatewayProcess
from tests.integration.migrating import engine_at
from tests.support.dry_runs import KEY

PROVIDER = "http://provider.test"
UNPROVEN = "urn:strangler-kit:problem:dry-run-unproven"


@pytest.fixture
def database(fresh_database_url: str) -> str:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
    return fresh_database_url


@asynccontextmanager
async def serving(app: Any, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """`app` with its lifespan run, behind a client that sends exactly what a test gives."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client,
    ):
        yield client


@asynccontextmanager
async def a_catalog(
    database: str, redis_url: str, key: str | None = KEY
) -> AsyncIterator[httpx.AsyncClient]:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    settings = CatalogSettings(database, redis_url, namespace, dry_run_key=key)
    async with serving(catalog_app(settings), "http://catalog.test") as client:
        yield client


def products(database: str) -> int:
    with engine_at(database) as engine, engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(db.products)).scalar_one())


def new_product() -> dict[str, Any]:
    return {"sku": f"S-{uuid.uuid4().hex}", "name": "Teapot", "price_cents": 1_000, "stock": 3}


def keyed(dry_run: str) -> dict[str, str]:
    return {"X-Strangler-Shadow": dry_run, "Idempotency-Key": uuid.uuid4().hex}


def forgeries(now: float) -> dict[str, str]:
    """Dry-run headers a client could send: none proves a dry run of POST /v2/products now."""
    return {
        "bare header": "dry-run",
        "another key": sign("a-key-the-attacker-made-up", "POST", "/v2/products", now),
        "two minutes old": sign(KEY, "POST", "/v2/products", now - 120),
        "for another path": sign(KEY, "POST", "/v2/restocks", now),
        "for another method": sign(KEY, "PUT", "/v2/products", now),
        "signature cut short": sign(KEY, "POST", "/v2/products", now)[:-2],
        "no signature": f"dry-run; t={int(now)}",
    }


@pytest.mark.anyio
@pytest.mark.parametrize("forgery", sorted(forgeries(0)))
async def test_a_dry_run_the_gateway_did_not_sign_is_refused_and_writes_nothing(
    database: str, redis_url: str, forgery: str
) -> None:
    async with a_catalog(database, redis_url) as catalog:
        before = products(database)
        header = forgeries(time.time())[forgery]
        answer = await catalog.post("/v2/products", json=new_product(), headers=keyed(header))
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == UNPROVEN
        assert "x-strangler-dry-run" not in answer.headers
        assert products(database) == before  # neither a dry run nor a real write


@pytest.mark.anyio
async def test_a_signed_dry_run_is_answered_as_the_write_would_be_and_keeps_nothing(
    database: str, redis_url: str
) -> None:
    async with a_catalog(database, redis_url) as catalog:
        before = products(database)
        proof = sign(KEY, "POST", "/v2/products")
        answer = await catalog.post("/v2/products", json=new_product(), headers=keyed(proof))
        assert answer.status_code == 201 and answer.headers["x-strangler-dry-run"] == "true"
        assert products(database) == before


@pytest.mark.anyio
async def test_a_service_given_no_key_refuses_every_dry_run(database: str, redis_url: str) -> None:
    async with a_catalog(database, redis_url, key=None) as catalog:
        proof = sign(KEY, "POST", "/v2/products")
        answer = await catalog.post("/v2/products", json=new_product(), headers=keyed(proof))
        assert (answer.status_code, answer.json()["type"]) == (403, UNPROVEN)


@pytest.mark.anyio
async def test_an_unproven_dry_run_on_a_legacy_path_is_refused_in_the_legacy_shape(
    database: str, redis_url: str
) -> None:
    async with a_catalog(database, redis_url) as catalog:
        before = products(database)
        answer = await catalog.post(
            "/products", json=new_product(), headers={"X-Strangler-Shadow": "dry-run"}
        )
        assert answer.status_code == 403
        assert answer.json()["error"] == "dry_run_unproven"
        assert products(database) == before


@pytest.mark.anyio
async def test_an_unproven_dry_run_charge_is_refused_and_nothing_reaches_the_provider(
    database: str, tmp_path: Path
) -> None:
    provider = provider_app(ProviderSettings(db_path=tmp_path / "provider.db"))
    payments = payments_app(
        PaymentsSettings(database, PROVIDER, dry_run_key=KEY),
        provider=httpx.ASGITransport(app=provider),
    )
    card = card_token()
    async with (
        serving(provider, PROVIDER) as charges,
        serving(payments, "http://payments.test") as client,
    ):
        answer = await client.post(
            "/v2/payments",
            json={"order_ref": "o-1", "amount_cents": 900, "card_token": card},
            headers={"Idempotency-Key": "k-1", "X-Strangler-Shadow": "dry-run"},
        )
        assert (answer.status_code, answer.json()["type"]) == (403, UNPROVEN)
        assert (await client.get("/v2/payments")).json()["payments"] == []
        listed = (await charges.get("/v1/charges", params={"card_token": card})).json()
        assert listed["charges"] == []


def test_a_mirror_carries_a_one_request_proof_and_no_secret_reaches_the_samples(
    gateway: Callable[..., GatewayProcess],
) -> None:
    """The echo upstream answers with every header it was sent, as a careless upstream might:
    the mirror's answer is a mismatch (the echoes say who they are), so it is sampled. The
    candidate proved the dry run, and neither the internal token nor the proof's signature
    is in the sample an operator reads."""
    gw = gateway()
    assert gw.set("orders", mode="shadow", dry_run=True).status_code == 200
    assert gw.public.post("/orders/1", json={"qty": 1}).json()["served_by"] == "legacy"
    deadline = time.monotonic() + 10
    while not (
        samples := gw.admin.get("/mismatches", params={"route": "orders"}).json()["samples"]
    ):
        assert time.monotonic() < deadline, gw.admin.get("/parity").json()
        time.sleep(0.05)
    [sample] = samples
    shown = json.dumps(sample)
    extracted = json.loads(sample["extracted"]["body"])
    assert extracted["dry_run"] is True  # the candidate proved it and kept nothing
    assert INTERNAL_TOKEN not in shown
    seen = extracted["headers"]
    assert "x-strangler-token" not in seen
    assert seen["x-strangler-shadow"].startswith("dry-run; t=")
    assert seen["x-strangler-shadow"].endswith("sig=[redacted]")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v2/products", {"sku": "", "name": ""}),  # 400
        ("PATCH", f"/v2/products/{uuid.uuid4()}", {"stock": 1}),  # 404
        ("POST", "/products", {"name": 7}),  # legacy-shaped 400
        ("DELETE", "/products/999999999", None),  # legacy-shaped 404
    ],
)
async def test_a_signed_dry_run_that_is_refused_still_says_it_was_a_dry_run(
    database: str, redis_url: str, method: str, path: str, body: Any
) -> None:
    """The gateway compares only answers that say they were dry runs: a refusal that did not
    say so would be taken for a write that may have been kept, and left out of parity."""
    async with a_catalog(database, redis_url) as catalog:
        answer = await catalog.request(
            method, path, json=body, headers=keyed(sign(KEY, method, path))
        )
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.headers["x-strangler-dry-run"] == "true"
