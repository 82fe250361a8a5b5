"""Fault injection: the provider can be made slow or flaky from settings or at run time."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from stand_ins.payments.errors import ConfigError
from stand_ins.payments.settings import PaymentsSettings

pytestmark = pytest.mark.anyio

Starter = Callable[[PaymentsSettings], AbstractAsyncContextManager[httpx.AsyncClient]]
CHARGE = {"amount_cents": 999, "currency": "gbp", "card_token": "tok_visa_faults"}


async def test_a_failure_rate_of_one_answers_503_and_charges_nothing(
    start_payments: Starter, payments_settings: PaymentsSettings
) -> None:
    async with start_payments(replace(payments_settings, failure_rate=1.0)) as client:
        charge = await client.post("/v1/charges", json=CHARGE)
        refund = await client.post("/v1/refunds", json={"charge_id": "ch_any"})

        assert charge.status_code == refund.status_code == 503
        assert charge.json()["error"]["type"] == "provider_unavailable"
        assert (await client.get("/v1/charges")).json() == {"charges": []}
        assert (await client.get("/healthz")).status_code == 200  # reads still work


async def test_the_same_seed_fails_the_same_requests(
    start_payments: Starter, tmp_path: Path
) -> None:
    runs = []
    for run in range(2):
        settings = PaymentsSettings(db_path=tmp_path / f"{run}.db", failure_rate=0.5, seed=7)
        async with start_payments(settings) as client:
            responses = [await client.post("/v1/charges", json=CHARGE) for _ in range(20)]
            runs.append([response.status_code for response in responses])

    assert runs[0] == runs[1]
    assert set(runs[0]) == {201, 503}


async def test_the_config_starts_from_the_settings(
    start_payments: Starter, payments_settings: PaymentsSettings
) -> None:
    settings = replace(payments_settings, latency_ms=5, failure_rate=0.25)
    async with start_payments(settings) as client:
        response = await client.get("/_admin/config")

    assert response.json() == {"latency_ms": 5, "failure_rate": 0.25}


async def test_changing_the_config_at_run_time_takes_effect_at_once(
    payments: httpx.AsyncClient,
) -> None:
    updated = await payments.put("/_admin/config", json={"failure_rate": 1})
    failing = await payments.post("/v1/charges", json=CHARGE)
    restored = await payments.put("/_admin/config", json={"failure_rate": 0.0})
    working = await payments.post("/v1/charges", json=CHARGE)

    assert updated.json() == {"latency_ms": 0, "failure_rate": 1.0}
    assert failing.status_code == 503
    assert restored.json() == {"latency_ms": 0, "failure_rate": 0.0}
    assert working.status_code == 201
    assert (await payments.get("/_admin/config")).json() == restored.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": 1.5}, "latency_ms"),
        ({"latency_ms": True}, "latency_ms"),
        ({"latency_ms": 10_000_000}, "latency_ms"),
        ({"failure_rate": 1.01}, "failure_rate"),
        ({"failure_rate": "0.5"}, "failure_rate"),
        ({"failure_rate": False}, "failure_rate"),
        ({"seed": 3}, "seed"),
        ([], "object"),
    ],
)
async def test_an_invalid_config_change_is_refused_and_changes_nothing(
    payments: httpx.AsyncClient, body: object, field: str
) -> None:
    response = await payments.put("/_admin/config", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"
    assert field in response.json()["error"]["message"]
    assert (await payments.get("/_admin/config")).json() == {"latency_ms": 0, "failure_rate": 0.0}


def test_settings_are_read_from_the_environment() -> None:
    settings = PaymentsSettings.from_env(
        {
            "PAYMENTS_DB_PATH": "/data/p.db",
            "PAYMENTS_LATENCY_MS": "250",
            "PAYMENTS_FAILURE_RATE": "0.1",
            "PAYMENTS_SEED": "42",
        }
    )

    assert settings == PaymentsSettings(Path("/data/p.db"), 250, 0.1, 42)
    assert PaymentsSettings.from_env({}) == PaymentsSettings()


@pytest.mark.parametrize(
    "environ",
    [
        {"PAYMENTS_LATENCY_MS": "slow"},
        {"PAYMENTS_LATENCY_MS": "-5"},
        {"PAYMENTS_FAILURE_RATE": "2"},
        {"PAYMENTS_FAILURE_RATE": "nan"},
        {"PAYMENTS_SEED": "abc"},
    ],
)
def test_bad_settings_in_the_environment_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        PaymentsSettings.from_env(environ)
