"""The payments use cases with an in-memory repository and a fake provider: one charge per
order and per key, compensation when an order turns out paid, refunds within bounds."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from new_services.payments.errors import (
    CardDeclined,
    ChargeNotAdoptable,
    KeyUsedForOtherPayment,
    OrderAlreadyPaid,
    OrderBeingPaid,
    PaymentNotFound,
    PaymentVoided,
    ProviderUnavailable,
    RefundTooLarge,
)
from new_services.payments.model import (
    AdoptCharge,
    ChargeOrder,
    Payment,
    PaymentStatus,
    Refund,
    RefundPayment,
    RefundStatus,
    payment_id_for,
)
from new_services.payments.provider import ChargeOnRecord, ProviderCharge, ProviderRefund
from new_services.payments.repository import InMemoryPaymentRepository, RefundUnderWay
from new_services.payments.service import PaymentService
from new_services.platform.problems import InvalidRequest

pytestmark = pytest.mark.anyio


@dataclass
class FakeProvider:
    """Charges keyed like a real provider: the same key returns the same charge."""

    charges: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (id, amount)
    refunds: list[tuple[str, int, str]] = field(default_factory=list)  # (charge, amount, key)
    references: dict[str, str | None] = field(default_factory=dict)  # charge id -> reference
    down: bool = False
    answers_lost: bool = False  # it charges, and the answer never comes back
    refuse_refunds: bool = False
    while_found: Callable[[], Awaitable[object]] | None = None  # runs as `find` answers
    while_charging: Callable[[], Awaitable[object]] | None = None  # runs as a charge is made

    async def charge(
        self,
        amount_cents: int,
        currency: str,
        card_token: str,
        description: str,
        key: str,
        reference: str | None,
    ) -> ProviderCharge:
        if self.down:
            raise ProviderUnavailable("down")
        if card_token.startswith("tok_declined"):
            raise CardDeclined("declined")
        if key not in self.charges:
            self.charges[key] = (f"ch_{len(self.charges) + 1}", amount_cents)
            self.references[self.charges[key][0]] = reference
        if self.while_charging is not None:
            hook, self.while_charging = self.while_charging, None
            await hook()
        if self.answers_lost:
            raise ProviderUnavailable("timed out")
        return ProviderCharge(self.charges[key][0])

    async def refund(self, charge_id: str, amount_cents: int, key: str) -> ProviderRefund:
        if self.refuse_refunds:
            raise InvalidRequest("the provider refused the refund")
        if not any(refund[2] == key for refund in self.refunds):
            charged = next(amount for cid, amount in self.charges.values() if cid == charge_id)
            refunded = sum(r[1] for r in self.refunds if r[0] == charge_id)
            assert refunded + amount_cents <= charged, "the provider would refuse this"
            self.refunds.append((charge_id, amount_cents, key))
        return ProviderRefund(f"re_{key}", amount_cents)

    async def lookup(self, charge_id: str) -> ChargeOnRecord | None:
        for made, amount in self.charges.values():
            if made == charge_id:
                refunded = sum(r[1] for r in self.refunds if r[0] == charge_id)
                return ChargeOnRecord(made, amount, "usd", refunded, captured=True)
        return None

    async def find(self, reference: str) -> list[ChargeOnRecord]:
        if self.down:
            raise ProviderUnavailable("down")
        found = [await self.lookup(c) for c, ref in self.references.items() if ref == reference]
        if self.while_found is not None:
            await self.while_found()
        return [charge for charge in found if charge is not None]

    async def refunds_of(self, charge_id: str) -> list[ProviderRefund]:
        if self.down:
            raise ProviderUnavailable("down")
        return [
            ProviderRefund(f"re_{key}", cents) for c, cents, key in self.refunds if c == charge_id
        ]


def order(ref: str = "order-1", amount: int = 1500) -> ChargeOrder:
    return ChargeOrder.parse({"order_ref": ref, "amount_cents": amount, "card_token": "tok_visa"})


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def repository() -> InMemoryPaymentRepository:
    return InMemoryPaymentRepository()


@pytest.fixture
def service(repository: InMemoryPaymentRepository, provider: FakeProvider) -> PaymentService:
    return PaymentService(repository, provider)


async def test_a_charge_is_recorded_with_the_providers_charge(
    service: PaymentService, provider: FakeProvider
) -> None:
    payment = await service.charge(order(), payment_id_for("key-1"))
    assert payment.status is PaymentStatus.CAPTURED and payment.amount_cents == 1500
    assert payment.provider_charge_id == "ch_1"
    assert await service.get(payment.id) == payment
    assert list(provider.charges) == [f"payment-{payment.id}"]


async def test_a_retry_with_the_same_key_is_the_same_payment_and_charges_once(
    service: PaymentService, provider: FakeProvider
) -> None:
    first = await service.charge(order(), payment_id_for("key-1"))
    again = await service.charge(order(), payment_id_for("key-1"))
    assert again == first and len(provider.charges) == 1


async def test_a_second_payment_for_a_paid_order_is_refused_and_charges_nothing(
    service: PaymentService, provider: FakeProvider
) -> None:
    first = await service.charge(order(), payment_id_for("key-1"))
    with pytest.raises(OrderAlreadyPaid) as refused:
        await service.charge(order(), payment_id_for("key-2"))
    assert refused.value.extensions == {"payment_id": str(first.id), "payment_status": "captured"}
    assert len(provider.charges) == 1


async def test_after_an_outage_only_the_same_key_can_finish_paying_the_order(
    service: PaymentService, provider: FakeProvider
) -> None:
    provider.down = True
    with pytest.raises(ProviderUnavailable):
        await service.charge(order(), payment_id_for("key-1"))
    provider.down = False
    with pytest.raises(OrderBeingPaid) as refused:  # the client gave up on its key
        await service.charge(order(), payment_id_for("key-2"))
    assert refused.value.extensions["payment_status"] == "pending"
    assert not refused.value.lasting  # the key must not replay it once it has passed
    with pytest.raises(KeyUsedForOtherPayment):  # the same key, other details
        await service.charge(order(amount=9999), payment_id_for("key-1"))
    resumed = await service.charge(order(), payment_id_for("key-1"))
    assert resumed.status is PaymentStatus.CAPTURED
    assert len(provider.charges) == 1 and provider.refunds == []


async def test_a_declined_card_records_nothing_and_frees_the_order_for_another_card(
    service: PaymentService, repository: InMemoryPaymentRepository
) -> None:
    declined = ChargeOrder.parse(
        {"order_ref": "order-1", "amount_cents": 1500, "card_token": "tok_declined"}
    )
    with pytest.raises(CardDeclined):
        await service.charge(declined, payment_id_for("key-1"))
    assert repository.payments == {}
    paid = await service.charge(order(), payment_id_for("key-2"))
    assert paid.status is PaymentStatus.CAPTURED


async def test_a_dry_run_validates_and_checks_but_charges_and_stores_nothing(
    service: PaymentService, provider: FakeProvider, repository: InMemoryPaymentRepository
) -> None:
    payment = await service.charge(order(), payment_id_for("k"), dry_run=True)
    assert payment.provider_charge_id is None and payment.amount_cents == 1500
    assert provider.charges == {} and repository.payments == {}
    await service.charge(order(), payment_id_for("real"))
    with pytest.raises(OrderAlreadyPaid):  # the dry run checks what the real one would
        await service.charge(order(), payment_id_for("other"), dry_run=True)


async def test_refunds_add_up_to_the_payment_and_no_further(service: PaymentService) -> None:
    payment = await service.charge(order(amount=1000), payment_id_for("k"))
    _, part = await service.refund(RefundPayment(payment.id, 300), "r-1")
    assert part.status is PaymentStatus.PARTIALLY_REFUNDED and part.refunded_cents == 300
    with pytest.raises(RefundTooLarge) as too_much:
        await service.refund(RefundPayment(payment.id, 701), "r-2")
    assert too_much.value.extensions == {"refundable_cents": 700}
    refund, rest = await service.refund(RefundPayment(payment.id, None), "r-3")
    assert refund.amount_cents == 700
    assert rest.status is PaymentStatus.REFUNDED and rest.refundable_cents == 0
    with pytest.raises(PaymentNotFound):
        await service.refund(RefundPayment(uuid.uuid4(), None), "r-4")
    again, _ = await service.refund(RefundPayment(payment.id, None), "r-3")  # the same refund
    assert again == refund


async def test_a_refund_the_provider_refuses_gives_the_reserved_amount_back(
    service: PaymentService, provider: FakeProvider
) -> None:
    payment = await service.charge(order(amount=1000), payment_id_for("k"))
    provider.refuse_refunds = True
    with pytest.raises(InvalidRequest):
        await service.refund(RefundPayment(payment.id, 400), "r-1")
    after = await service.get(payment.id)
    assert after.refunded_cents == 0 and after.status is PaymentStatus.CAPTURED


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"amount_cents": 1, "card_token": "t"}, "missing field(s): order_ref"),
        ({"order_ref": "o", "amount_cents": 0, "card_token": "t"}, "amount_cents must be"),
        ({"order_ref": "o", "amount_cents": True, "card_token": "t"}, "amount_cents must be"),
        ({"order_ref": "o w", "amount_cents": 1, "card_token": "t"}, "order_ref must be"),
        ({"order_ref": "o", "amount_cents": 1, "card_token": ""}, "card_token must be"),
        ({"order_ref": "o", "amount_cents": 1, "card_token": "t", "currency": "EUR"}, "currency"),
        ({"order_ref": "o", "amount_cents": 1, "card_token": "t", "tip": 1}, "unknown field"),
    ],
)
def test_an_invalid_charge_is_refused_with_what_is_wrong(
    body: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        ChargeOrder.parse(body)


async def test_a_charge_made_elsewhere_is_adopted_with_the_providers_amounts_once(
    service: PaymentService, provider: FakeProvider, repository: InMemoryPaymentRepository
) -> None:
    provider.charges["legacy"] = ("ch_legacy", 2500)  # the legacy shop's charge, no payment
    provider.refunds.append(("ch_legacy", 500, "legacy-partial"))
    adopt = AdoptCharge.parse("ch_legacy", {"order_ref": "order-7"})
    dry = await service.adopt(adopt, dry_run=True)
    assert dry.refunded_cents == 500 and repository.payments == {}
    payment = await service.adopt(adopt)
    assert (payment.amount_cents, payment.refundable_cents) == (2500, 2000)
    assert payment.status is PaymentStatus.PARTIALLY_REFUNDED
    assert await service.adopt(adopt) == payment  # the charge names its one payment
    refund, after = await service.refund(RefundPayment(payment.id, None), key="cancel-7")
    assert refund.amount_cents == 2000 and after.status is PaymentStatus.REFUNDED
    with pytest.raises(ChargeNotAdoptable):  # another order cannot take the same charge
        await service.adopt(AdoptCharge.parse("ch_legacy", {"order_ref": "order-8"}))
    with pytest.raises(ChargeNotAdoptable):
        await service.adopt(AdoptCharge.parse("ch_unknown", {"order_ref": "order-9"}))
    assert list(repository.payments) == [payment.id]


async def test_an_order_paid_here_cannot_adopt_a_second_charge(
    service: PaymentService, provider: FakeProvider
) -> None:
    paid = await service.charge(order("order-1"), payment_id_for("key-1"))
    provider.charges["legacy"] = ("ch_legacy", 1500)
    with pytest.raises(ChargeNotAdoptable) as refused:
        await service.adopt(AdoptCharge.parse("ch_legacy", {"order_ref": "order-1"}))
    assert refused.value.extensions == {"payment_id": str(paid.id)}


def test_an_adoption_names_a_well_formed_charge_and_its_order() -> None:
    with pytest.raises(InvalidRequest, match="charge id"):
        AdoptCharge.parse("ch 1/../x", {"order_ref": "order-1"})
    with pytest.raises(InvalidRequest, match="missing field"):
        AdoptCharge.parse("ch_1", {})


async def test_a_payment_left_pending_past_the_bound_is_reported_until_a_retry_settles_it(
    repository: InMemoryPaymentRepository, provider: FakeProvider
) -> None:
    now = [datetime(2026, 11, 28, 12, 0, tzinfo=UTC)]
    service = PaymentService(repository, provider, clock=lambda: now[0])
    provider.down = True
    with pytest.raises(ProviderUnavailable):  # the client gets 502 and never retries
        await service.charge(order(), payment_id_for("key-1"))
    provider.down = False
    await service.charge(order("order-2"), payment_id_for("key-2"))  # captured: not reported

    assert (await service.unsettled(timedelta(minutes=5)))["payment"].count == 0  # too recent
    now[0] += timedelta(minutes=6)
    found = await service.unsettled(timedelta(minutes=5))
    assert found["payment"].count == 1
    assert found["payment"].oldest == datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert found["refund"].count == 0

    await service.charge(order(), payment_id_for("key-1"))  # the retry that finally came
    assert (await service.unsettled(timedelta(minutes=5)))["payment"].count == 0


@pytest.fixture
def now() -> list[datetime]:
    return [datetime(2026, 11, 28, 12, 0, tzinfo=UTC)]


@pytest.fixture
def clocked(
    repository: InMemoryPaymentRepository, provider: FakeProvider, now: list[datetime]
) -> PaymentService:
    return PaymentService(repository, provider, clock=lambda: now[0])


SETTLE_AFTER = timedelta(minutes=5)


async def left_pending(
    service: PaymentService, provider: FakeProvider, charged: bool, amount: int = 1500
) -> None:
    """A charge for key-1 whose client got an error and never retried: the provider was
    down (nothing charged) or its answer was lost (charged)."""
    if charged:
        provider.answers_lost = True
    else:
        provider.down = True
    with pytest.raises(ProviderUnavailable):
        await service.charge(order(amount=amount), payment_id_for("key-1"))
    provider.answers_lost = provider.down = False


async def test_the_settler_voids_a_payment_the_provider_never_charged_and_refuses_its_late_retry(
    clocked: PaymentService, provider: FakeProvider, now: list[datetime]
) -> None:
    await left_pending(clocked, provider, charged=False)  # the client got 502, never retried

    assert await clocked.settle(SETTLE_AFTER) == {}  # too recent: a retry may still come
    now[0] += timedelta(minutes=6)
    assert await clocked.settle(SETTLE_AFTER) == {"voided": 1}
    voided = await clocked.get(payment_id_for("key-1"))
    assert (voided.status, voided.provider_charge_id) == (PaymentStatus.VOIDED, None)
    with pytest.raises(PaymentVoided) as late:
        await clocked.charge(order(), payment_id_for("key-1"))
    assert late.value.lasting  # the key's answer is final now
    assert "given up" in late.value.detail
    assert provider.charges == {}  # the late retry charged nothing
    assert (await clocked.unsettled(SETTLE_AFTER))["payment"].count == 0
    assert await clocked.settle(SETTLE_AFTER) == {}  # nothing left to do


async def test_the_settler_refunds_a_charge_whose_answer_was_lost(
    clocked: PaymentService, provider: FakeProvider, now: list[datetime]
) -> None:
    await left_pending(clocked, provider, charged=True, amount=2500)
    now[0] += timedelta(minutes=6)

    assert await clocked.settle(SETTLE_AFTER) == {"refunded": 1}
    payment = await clocked.get(payment_id_for("key-1"))
    assert (payment.status, payment.provider_charge_id) == (PaymentStatus.VOIDED, "ch_1")
    assert payment.refunded_cents == 2500
    assert [(charge, amount) for charge, amount, _ in provider.refunds] == [("ch_1", 2500)]
    with pytest.raises(PaymentVoided) as late:  # no order may stand on given-back money
        await clocked.charge(order(amount=2500), payment_id_for("key-1"))
    assert "its charge given back" in late.value.detail
    with pytest.raises(PaymentVoided):
        await clocked.refund(RefundPayment(payment.id, None), key="r-1")
    assert len(provider.refunds) == 1


async def test_a_refund_another_system_made_at_the_provider_is_recorded_once_and_not_made_again(
    service: PaymentService, provider: FakeProvider
) -> None:
    payment = await service.charge(order(), payment_id_for("key-1"))
    provider.refunds.append(("ch_1", 1500, "legacy"))  # legacy cancelled the order

    assert await service.record_refunds_made_elsewhere("ch_1") == 1
    assert await service.record_refunds_made_elsewhere("ch_1") == 0  # heard of twice
    after = await service.get(payment.id)
    assert (after.status, after.refunded_cents) == (PaymentStatus.REFUNDED, 1500)
    assert provider.refunds == [("ch_1", 1500, "legacy")]  # nothing refunded a second time
    assert await service.record_refunds_made_elsewhere("ch_legacy_own") == 0  # not ours


async def test_a_refund_made_elsewhere_waits_while_one_of_the_payments_own_is_pending(
    service: PaymentService, provider: FakeProvider, repository: InMemoryPaymentRepository
) -> None:
    """The provider's unknown refund may be the pending one whose answer was lost."""
    payment = await service.charge(order(), payment_id_for("key-1"))
    pending = Refund(uuid.uuid4(), payment.id, 500, RefundStatus.PENDING, None, payment.created_at)
    repository.reserve_refund(pending)
    provider.refunds.append(("ch_1", 500, "lost-answer"))

    with pytest.raises(RefundUnderWay):
        await service.record_refunds_made_elsewhere("ch_1")
    assert (await service.get(payment.id)).refunded_cents == 500  # only the reservation


async def test_a_refund_the_provider_could_not_take_is_finished_by_a_later_round(
    clocked: PaymentService, provider: FakeProvider, now: list[datetime]
) -> None:
    await left_pending(clocked, provider, charged=True)
    now[0] += timedelta(minutes=6)
    provider.refuse_refunds = True  # a provider that refuses wants a person: left, reported
    assert await clocked.settle(SETTLE_AFTER) == {"left": 1}
    assert provider.refunds == []
    provider.refuse_refunds = False

    assert await clocked.settle(SETTLE_AFTER) == {}  # the refund itself is recent
    now[0] += timedelta(minutes=6)
    assert (await clocked.unsettled(SETTLE_AFTER))["refund"].count == 1
    assert await clocked.settle(SETTLE_AFTER) == {"refund-finished": 1}
    assert [amount for _, amount, _ in provider.refunds] == [1500]
    assert (await clocked.unsettled(SETTLE_AFTER))["refund"].count == 0


async def test_a_retry_that_comes_first_keeps_the_settler_off_the_payment(
    clocked: PaymentService, provider: FakeProvider, now: list[datetime]
) -> None:
    """The settler asks the provider (no charge yet); meanwhile a retry resumes the payment
    and charges; then the settler would void it: the retry's mark makes it keep off."""
    await left_pending(clocked, provider, charged=False)
    now[0] += timedelta(minutes=6)
    retried: list[Payment] = []

    async def retry_meanwhile() -> None:
        provider.while_found = None
        retried.append(await clocked.charge(order(), payment_id_for("key-1")))

    provider.while_found = retry_meanwhile
    assert await clocked.settle(SETTLE_AFTER) == {"resumed": 1}
    assert retried[0].status is PaymentStatus.CAPTURED
    assert (await clocked.get(retried[0].id)).status is PaymentStatus.CAPTURED
    assert provider.refunds == []


async def test_a_provider_that_does_not_answer_leaves_the_payment_pending_for_the_next_round(
    clocked: PaymentService, provider: FakeProvider, now: list[datetime]
) -> None:
    await left_pending(clocked, provider, charged=False)
    provider.down = True  # and it stays down while the settler asks
    now[0] += timedelta(minutes=6)
    assert await clocked.settle(SETTLE_AFTER) == {"left": 1}
    assert (await clocked.get(payment_id_for("key-1"))).status is PaymentStatus.PENDING
    provider.down = False
    assert await clocked.settle(SETTLE_AFTER) == {}  # left ones wait their turn again
    now[0] += timedelta(minutes=6)
    assert await clocked.settle(SETTLE_AFTER) == {"voided": 1}


async def test_a_retry_at_the_provider_while_the_settler_runs_keeps_its_charge(
    clocked: PaymentService, provider: FakeProvider, now: list[datetime]
) -> None:
    """The interleaving the retry's mark is for: the retry is at the provider, which has
    just charged, when the settler's round comes. Unmarked, the settler would find that
    charge and give it back, and the retry's order would stand on refunded money."""
    await left_pending(clocked, provider, charged=False)
    now[0] += timedelta(minutes=6)
    rounds = []

    async def settle_meanwhile() -> None:
        rounds.append(await clocked.settle(SETTLE_AFTER))

    provider.while_charging = settle_meanwhile
    retried = await clocked.charge(order(), payment_id_for("key-1"))
    assert rounds == [{}]  # the marked payment was not the settler's to take
    assert retried.status is PaymentStatus.CAPTURED
    assert provider.refunds == []


async def test_a_charge_landing_on_a_payment_already_voided_is_given_back(
    clocked: PaymentService,
    provider: FakeProvider,
    repository: InMemoryPaymentRepository,
    now: list[datetime],
) -> None:
    """Past the mark's guard (a settler that voided without looking at it, say): the
    money that arrives late is recorded and refunded, never kept by a voided payment."""
    await left_pending(clocked, provider, charged=False)
    pid = payment_id_for("key-1")

    async def voided_meanwhile() -> None:
        assert repository.void(pid, now[0] + timedelta(hours=1), now[0], None, None)

    provider.while_charging = voided_meanwhile
    with pytest.raises(PaymentVoided) as late:
        await clocked.charge(order(), pid)
    assert "its charge given back" in late.value.detail
    payment = await clocked.get(pid)
    assert (payment.status, payment.provider_charge_id) == (PaymentStatus.VOIDED, "ch_1")
    assert [(charge, amount) for charge, amount, _ in provider.refunds] == [("ch_1", 1500)]


RECHECK_EVERY, RECHECK_FOR = timedelta(hours=1), timedelta(days=1)
AN_HOUR_AND_A_BIT = RECHECK_EVERY + timedelta(minutes=1)


async def voided_uncharged(
    clocked: PaymentService, provider: FakeProvider, now: list[datetime]
) -> Payment:
    """key-1's payment, voided by the settler after its client got an error and the
    provider had charged nothing."""
    await left_pending(clocked, provider, charged=False)
    now[0] += timedelta(minutes=6)
    assert await clocked.settle(SETTLE_AFTER) == {"voided": 1}
    return await clocked.get(payment_id_for("key-1"))


async def test_a_charge_the_provider_makes_after_the_payment_was_voided_is_found_and_given_back(
    clocked: PaymentService, provider: FakeProvider, now: list[datetime]
) -> None:
    voided = await voided_uncharged(clocked, provider, now)
    # the provider's own retry, long after every timeout, charges under the reference
    provider.charges["provider-side-retry"] = ("ch_late", voided.amount_cents)
    provider.references["ch_late"] = str(voided.id)

    assert await clocked.recheck_voided(RECHECK_EVERY, RECHECK_FOR) == {}  # voided just now
    now[0] += AN_HOUR_AND_A_BIT
    assert await clocked.recheck_voided(RECHECK_EVERY, RECHECK_FOR) == {"late-charge": 1}
    payment = await clocked.get(voided.id)
    assert (payment.status, payment.provider_charge_id) == (PaymentStatus.VOIDED, "ch_late")
    assert payment.refunded_cents == voided.amount_cents
    assert [(charge, amount) for charge, amount, _ in provider.refunds] == [("ch_late", 1500)]
    now[0] += AN_HOUR_AND_A_BIT
    assert await clocked.recheck_voided(RECHECK_EVERY, RECHECK_FOR) == {}  # settled for good


async def test_a_voided_payment_is_asked_about_once_an_hour_for_a_day_then_no_more(
    clocked: PaymentService, provider: FakeProvider, now: list[datetime]
) -> None:
    voided = await voided_uncharged(clocked, provider, now)
    provider.down = True
    now[0] += AN_HOUR_AND_A_BIT
    assert await clocked.recheck_voided(RECHECK_EVERY, RECHECK_FOR) == {"left": 1}
    provider.down = False
    asked: Counter[str] = Counter()
    while now[0] < voided.created_at + 2 * RECHECK_FOR:
        now[0] += AN_HOUR_AND_A_BIT
        asked += await clocked.recheck_voided(RECHECK_EVERY, RECHECK_FOR)
        asked += await clocked.recheck_voided(RECHECK_EVERY, RECHECK_FOR)  # not due again yet
    # asked at 2 h 08 min, 3 h 09 min, ... 23 h 29 min after it was made: 22 times
    assert asked == {"rechecked": 22}
    assert provider.refunds == []


async def test_a_payment_made_before_references_is_left_to_a_person_and_retried_as_it_was(
    clocked: PaymentService,
    provider: FakeProvider,
    repository: InMemoryPaymentRepository,
    now: list[datetime],
) -> None:
    """Its first attempt sent no reference, so finding no charge by one proves nothing:
    voiding it could keep money the provider took. Its retry sends what it first sent
    (the provider's key checks the body)."""
    await left_pending(clocked, provider, charged=False)
    pid = payment_id_for("key-1")
    repository.payments[pid] = replace(repository.payments[pid], provider_reference=None)
    now[0] += timedelta(minutes=20)

    assert await clocked.settle(SETTLE_AFTER) == {}
    assert (await clocked.unsettled(SETTLE_AFTER))["payment"].count == 1  # the alarm says so
    retried = await clocked.charge(order(), pid)
    assert retried.status is PaymentStatus.CAPTURED
    assert provider.references == {"ch_1": None}
