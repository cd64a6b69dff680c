"""The simulated processor behaves as its README documents it: every test card's answer,
idempotency keys honoured, and the refusals of a real gateway."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from payments_examples import EUR_100, new_key

from payments.domain import Approval, Decline, DeclineReason, Money, ProcessorUnavailable
from payments.simulated_processor import TEST_CARDS, ProcessorRefused, SimulatedProcessor

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def processor() -> SimulatedProcessor:
    return SimulatedProcessor()


async def approve(processor: SimulatedProcessor, token: str = "tok_visa") -> str:
    answer = await processor.authorize(
        idempotency_key=new_key(), amount=EUR_100, payment_token=token
    )
    assert isinstance(answer, Approval)
    return answer.reference


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard"])
async def test_an_approving_card_holds_the_amount(
    processor: SimulatedProcessor, token: str
) -> None:
    reference = await approve(processor, token)

    held = processor.authorization(reference)
    assert held is not None
    assert (held.held, held.taken) == (10_000, 0)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("tok_declined", DeclineReason.PROCESSOR_DECLINED),
        ("tok_insufficient_funds", DeclineReason.INSUFFICIENT_FUNDS),
        ("tok_expired_card", DeclineReason.CARD_EXPIRED),
        ("tok_fraudulent", DeclineReason.SUSPECTED_FRAUD),
        ("tok_nobody_issued", DeclineReason.INVALID_PAYMENT_TOKEN),
    ],
)
async def test_a_declining_card_declines_for_its_reason_and_holds_nothing(
    processor: SimulatedProcessor, token: str, reason: DeclineReason
) -> None:
    answer = await processor.authorize(
        idempotency_key=new_key(), amount=EUR_100, payment_token=token
    )

    assert isinstance(answer, Decline)
    assert answer.reason is reason
    assert processor.authorizations() == []


async def test_the_timeout_card_never_answers_and_holds_nothing(
    processor: SimulatedProcessor,
) -> None:
    key = new_key()
    for _ in range(3):  # retrying does not help
        with pytest.raises(ProcessorUnavailable):
            await processor.authorize(
                idempotency_key=key, amount=EUR_100, payment_token="tok_timeout"
            )

    assert processor.authorizations() == []


async def test_the_flaky_card_loses_the_first_answer_of_each_key_but_acts_once(
    processor: SimulatedProcessor,
) -> None:
    key = new_key()
    with pytest.raises(ProcessorUnavailable):
        await processor.authorize(idempotency_key=key, amount=EUR_100, payment_token="tok_flaky")
    [held] = processor.authorizations()  # it took effect although the answer was lost

    retry = await processor.authorize(
        idempotency_key=key, amount=EUR_100, payment_token="tok_flaky"
    )

    assert retry == Approval(held.reference)
    assert len(processor.authorizations()) == 1

    capture_key = new_key()
    with pytest.raises(ProcessorUnavailable):
        await processor.capture(
            idempotency_key=capture_key, reference=held.reference, amount=EUR_100
        )
    await processor.capture(idempotency_key=capture_key, reference=held.reference, amount=EUR_100)
    assert (held.captured, held.taken) == (10_000, 10_000)


async def test_a_repeated_refund_key_refunds_once(processor: SimulatedProcessor) -> None:
    reference = await approve(processor)
    await processor.capture(idempotency_key=new_key(), reference=reference, amount=EUR_100)
    key = new_key()

    for _ in range(3):
        await processor.refund(idempotency_key=key, reference=reference, amount=Money("EUR", 2_500))

    held = processor.authorization(reference)
    assert held is not None
    assert held.refunded == 2_500


async def test_a_key_reused_with_other_parameters_is_refused(
    processor: SimulatedProcessor,
) -> None:
    key = new_key()
    await processor.authorize(idempotency_key=key, amount=EUR_100, payment_token="tok_visa")

    with pytest.raises(ProcessorRefused):
        await processor.authorize(
            idempotency_key=key, amount=Money("EUR", 1), payment_token="tok_visa"
        )


async def test_it_refuses_what_a_real_gateway_refuses(processor: SimulatedProcessor) -> None:
    reference = await approve(processor)
    with pytest.raises(ProcessorRefused):
        await processor.capture(
            idempotency_key=new_key(), reference=reference, amount=Money("EUR", 10_001)
        )
    with pytest.raises(ProcessorRefused):
        await processor.refund(idempotency_key=new_key(), reference=reference, amount=EUR_100)
    await processor.capture(idempotency_key=new_key(), reference=reference, amount=EUR_100)
    with pytest.raises(ProcessorRefused):
        await processor.capture(idempotency_key=new_key(), reference=reference, amount=EUR_100)
    with pytest.raises(ProcessorRefused):
        await processor.void(idempotency_key=new_key(), reference=reference)
    with pytest.raises(ProcessorRefused):
        await processor.capture(
            idempotency_key=new_key(), reference="simauth_unknown", amount=EUR_100
        )


async def test_the_reference_follows_the_key_so_every_instance_answers_the_same() -> None:
    key = new_key()
    answers = [
        await SimulatedProcessor().authorize(
            idempotency_key=key, amount=EUR_100, payment_token="tok_visa"
        )
        for _ in range(2)
    ]

    assert answers[0] == answers[1]


def test_the_readme_documents_every_test_card() -> None:
    documented = set(re.findall(r"^\| `(tok_[a-z_]+)` \|", README.read_text(), re.MULTILINE))

    assert documented == {card.token for card in TEST_CARDS}
