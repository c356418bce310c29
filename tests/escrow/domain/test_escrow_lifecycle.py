"""The escrow and lot state machines: every action allowed in a state works, every other one is
refused with a 409-style error naming the current state and the actions that are allowed.

Timeline used throughout: opened at T0, funding deadline T0+2d, lot A due by T0+10d and lot B
by T0+14d, inspection period 3 days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import pytest

from services.escrow.domain.lifecycle import (
    ESCROW_TRANSITIONS,
    LOT_TRANSITIONS,
    accept_lot,
    allowed_actions,
    cancel_escrow,
    fund_escrow,
    open_escrow,
    resolve_dispute,
)
from services.escrow.domain.model import (
    ESCROW_ACTIONS,
    FINAL_LOT_STATUSES,
    Action,
    AmountError,
    Escrow,
    EscrowStatus,
    Funding,
    InvalidTransitionError,
    LotStatus,
    LotTerms,
    Refund,
    Release,
    UnknownLotError,
)
from shared.money import Money
from tests.escrow.domain.kit import FEES, INSPECTION, T0, kes, perform, two_lot_escrow

A = Action
FUNDED_AT = T0 + timedelta(hours=1)
SHIPPED_AT = T0 + timedelta(days=1)
DELIVERED_AT = T0 + timedelta(days=2)
IN_INSPECTION = T0 + timedelta(days=3)
AFTER_INSPECTION = DELIVERED_AT + INSPECTION


def run(steps: list[tuple[Action, str | None, datetime]], **kwargs: int) -> Escrow:
    escrow = two_lot_escrow()
    for action, lot_id, at in steps:
        escrow = perform(escrow, action, at, lot_id, **kwargs).escrow
    return escrow


FUND = (A.FUND, None, FUNDED_AT)
SHIP_A = (A.SHIP, "A", SHIPPED_AT)
DELIVER_A = (A.DELIVER, "A", DELIVERED_AT)


def delivered_a() -> list[tuple[Action, str | None, datetime]]:
    return [FUND, SHIP_A, DELIVER_A]


def _all_lots_settled() -> Escrow:
    steps = [
        *delivered_a(),
        (A.ACCEPT, "A", IN_INSPECTION),
        (A.REFUND_UNDELIVERED, "B", T0 + timedelta(days=14)),
    ]
    return run(steps)


def _all_lots_refunded() -> Escrow:
    late = T0 + timedelta(days=14)
    return run([FUND, (A.REFUND_UNDELIVERED, "A", late), (A.REFUND_UNDELIVERED, "B", late)])


class Case(NamedTuple):
    """An escrow in some state at some time, and what is allowed then."""

    build: Callable[[], Escrow]
    at: datetime
    escrow: str  # escrow status
    lot_a: str  # lot A status
    on_escrow: set[Action]  # allowed on the escrow
    on_a: set[Action]  # allowed on lot A
    on_b: set[Action]  # allowed on lot B


SCENARIOS: dict[str, Case] = {
    "created": Case(
        build=lambda: run([]),
        at=FUNDED_AT,
        escrow="created",
        lot_a="pending",
        on_escrow={A.FUND, A.CANCEL},
        on_a=set(),
        on_b=set(),
    ),
    "created, funding deadline passed": Case(
        build=lambda: run([]),
        at=T0 + timedelta(days=2),
        escrow="created",
        lot_a="pending",
        on_escrow={A.FUND, A.CANCEL, A.EXPIRE},
        on_a=set(),
        on_b=set(),
    ),
    "funded": Case(
        build=lambda: run([FUND]),
        at=SHIPPED_AT,
        escrow="funded",
        lot_a="pending",
        on_escrow={A.CANCEL},
        on_a={A.SHIP},
        on_b={A.SHIP},
    ),
    "funded, lot A overdue": Case(
        build=lambda: run([FUND]),
        at=T0 + timedelta(days=10),
        escrow="funded",
        lot_a="pending",
        on_escrow={A.CANCEL},
        on_a={A.SHIP, A.REFUND_UNDELIVERED},
        on_b={A.SHIP},
    ),
    "A shipped": Case(
        build=lambda: run([FUND, SHIP_A]),
        at=SHIPPED_AT,
        escrow="in_progress",
        lot_a="shipped",
        on_escrow=set(),
        on_a={A.DELIVER, A.DISPUTE},
        on_b={A.SHIP},
    ),
    "A shipped, overdue": Case(
        build=lambda: run([FUND, SHIP_A]),
        at=T0 + timedelta(days=11),
        escrow="in_progress",
        lot_a="shipped",
        on_escrow=set(),
        on_a={A.DELIVER, A.DISPUTE, A.REFUND_UNDELIVERED},
        on_b={A.SHIP},
    ),
    "A delivered, in inspection": Case(
        build=lambda: run(delivered_a()),
        at=IN_INSPECTION,
        escrow="in_progress",
        lot_a="delivered",
        on_escrow=set(),
        on_a={A.ACCEPT, A.REJECT, A.DISPUTE},
        on_b={A.SHIP},
    ),
    "A delivered, inspection over": Case(
        build=lambda: run(delivered_a()),
        at=AFTER_INSPECTION,
        escrow="in_progress",
        lot_a="delivered",
        on_escrow=set(),
        on_a={A.ACCEPT, A.AUTO_RELEASE},
        on_b={A.SHIP},
    ),
    "A rejected": Case(
        build=lambda: run([*delivered_a(), (A.REJECT, "A", IN_INSPECTION)]),
        at=IN_INSPECTION,
        escrow="in_progress",
        lot_a="rejected",
        on_escrow=set(),
        on_a={A.RETURN_RECEIVED, A.DISPUTE},
        on_b={A.SHIP},
    ),
    "A disputed": Case(
        build=lambda: run([*delivered_a(), (A.DISPUTE, "A", IN_INSPECTION)]),
        at=AFTER_INSPECTION,
        escrow="disputed",
        lot_a="disputed",
        on_escrow=set(),
        on_a={A.RESOLVE},
        on_b={A.SHIP},
    ),
    "A disputed while shipped, overdue": Case(
        build=lambda: run([FUND, SHIP_A, (A.DISPUTE, "A", SHIPPED_AT)]),
        at=T0 + timedelta(days=11),
        escrow="disputed",
        lot_a="disputed",
        on_escrow=set(),
        on_a={A.RESOLVE},
        on_b={A.SHIP},
    ),
    "A accepted": Case(
        build=lambda: run([*delivered_a(), (A.ACCEPT, "A", IN_INSPECTION)]),
        at=IN_INSPECTION,
        escrow="in_progress",
        lot_a="accepted",
        on_escrow=set(),
        on_a=set(),
        on_b={A.SHIP},
    ),
    "A partially accepted": Case(
        build=lambda: run([*delivered_a(), (A.ACCEPT, "A", IN_INSPECTION)], amount_minor=1),
        at=IN_INSPECTION,
        escrow="in_progress",
        lot_a="partially_accepted",
        on_escrow=set(),
        on_a=set(),
        on_b={A.SHIP},
    ),
    "A auto-released": Case(
        build=lambda: run([*delivered_a(), (A.AUTO_RELEASE, "A", AFTER_INSPECTION)]),
        at=AFTER_INSPECTION,
        escrow="in_progress",
        lot_a="auto_released",
        on_escrow=set(),
        on_a=set(),
        on_b={A.SHIP},
    ),
    "A returned": Case(
        build=lambda: run(
            [
                *delivered_a(),
                (A.REJECT, "A", IN_INSPECTION),
                (A.RETURN_RECEIVED, "A", IN_INSPECTION),
            ]
        ),
        at=IN_INSPECTION,
        escrow="in_progress",
        lot_a="returned",
        on_escrow=set(),
        on_a=set(),
        on_b={A.SHIP},
    ),
    "A resolved": Case(
        build=lambda: run([*delivered_a(), (A.DISPUTE, "A", IN_INSPECTION), (A.RESOLVE, "A", IN_INSPECTION)]),
        at=IN_INSPECTION,
        escrow="in_progress",
        lot_a="resolved",
        on_escrow=set(),
        on_a=set(),
        on_b={A.SHIP},
    ),
    "A refunded undelivered": Case(
        build=lambda: run([FUND, (A.REFUND_UNDELIVERED, "A", T0 + timedelta(days=10))]),
        at=T0 + timedelta(days=10),
        escrow="in_progress",
        lot_a="refunded",
        on_escrow=set(),
        on_a=set(),
        on_b={A.SHIP},
    ),
    "completed": Case(
        build=_all_lots_settled,
        at=T0 + timedelta(days=20),
        escrow="completed",
        lot_a="accepted",
        on_escrow=set(),
        on_a=set(),
        on_b=set(),
    ),
    "refunded": Case(
        build=_all_lots_refunded,
        at=T0 + timedelta(days=20),
        escrow="refunded",
        lot_a="refunded",
        on_escrow=set(),
        on_a=set(),
        on_b=set(),
    ),
    "cancelled unfunded": Case(
        build=lambda: run([(A.CANCEL, None, FUNDED_AT)]),
        at=FUNDED_AT,
        escrow="cancelled",
        lot_a="cancelled",
        on_escrow=set(),
        on_a=set(),
        on_b=set(),
    ),
    "cancelled after funding": Case(
        build=lambda: run([FUND, (A.CANCEL, None, FUNDED_AT)]),
        at=FUNDED_AT,
        escrow="cancelled",
        lot_a="cancelled",
        on_escrow=set(),
        on_a=set(),
        on_b=set(),
    ),
    "expired": Case(
        build=lambda: run([(A.EXPIRE, None, T0 + timedelta(days=2))]),
        at=T0 + timedelta(days=3),
        escrow="expired",
        lot_a="cancelled",
        on_escrow=set(),
        on_a=set(),
        on_b=set(),
    ),
}


def _subjects() -> list[tuple[str, str | None]]:
    return [(name, subject) for name in SCENARIOS for subject in (None, "A", "B")]


@pytest.mark.parametrize(("scenario", "lot_id"), _subjects())
def test_state_machine_table(scenario: str, lot_id: str | None) -> None:
    case = SCENARIOS[scenario]
    escrow, now = case.build(), case.at
    assert escrow.status.value == case.escrow
    assert escrow.lot("A").status.value == case.lot_a
    expected = {None: case.on_escrow, "A": case.on_a, "B": case.on_b}[lot_id]
    assert set(allowed_actions(escrow=escrow, now=now, lot_id=lot_id)) == expected

    candidates = ESCROW_ACTIONS if lot_id is None else set(Action) - ESCROW_ACTIONS
    for action in sorted(candidates):
        if action in expected:  # works, and lands where the module's table says
            after = perform(escrow, action, now, lot_id).escrow
            if lot_id is None:
                assert after.status is ESCROW_TRANSITIONS[escrow.status][action]
            else:
                lot_status = escrow.lot(lot_id).status
                assert after.lot(lot_id).status is LOT_TRANSITIONS[lot_status][action]
            continue
        with pytest.raises(InvalidTransitionError) as caught:
            perform(escrow, action, now, lot_id)
        error = caught.value
        assert error.action is action
        assert set(error.allowed_actions) == expected
        assert error.status_code == 409
        state = escrow.status.value if lot_id is None else escrow.lot(lot_id).status.value
        assert error.current_state.startswith(state)
        assert state in str(error)


def test_error_names_the_state_and_the_allowed_actions() -> None:
    escrow = run(delivered_a())
    with pytest.raises(InvalidTransitionError) as caught:
        perform(escrow, A.SHIP, IN_INSPECTION, "A")
    assert str(caught.value) == (
        "cannot ship lot 'A' in state 'delivered'; allowed actions: accept, dispute, reject"
    )
    assert caught.value.allowed_actions == (A.ACCEPT, A.DISPUTE, A.REJECT)


def test_lot_action_on_unfunded_escrow_names_the_escrow_state() -> None:
    with pytest.raises(InvalidTransitionError) as caught:
        perform(run([]), A.SHIP, FUNDED_AT, "A")
    assert caught.value.current_state == "pending (escrow created)"
    assert caught.value.allowed_actions == ()
    assert "allowed actions: none" in str(caught.value)


def test_tables_cover_every_action_and_final_statuses_allow_nothing() -> None:
    used = {a for by in (*ESCROW_TRANSITIONS.values(), *LOT_TRANSITIONS.values()) for a in by}
    assert used == set(Action)
    assert not FINAL_LOT_STATUSES & set(LOT_TRANSITIONS)


def test_funding_must_be_the_exact_amount_in_the_escrow_currency() -> None:
    escrow = two_lot_escrow()
    for wrong in (kes(99_999), kes(100_001), Money(100_000, "UGX")):
        with pytest.raises(AmountError, match="exactly 100000"):
            fund_escrow(escrow=escrow, amount=wrong, now=FUNDED_AT)
    step = fund_escrow(escrow=escrow, amount=kes(100_000), now=FUNDED_AT)
    assert step.movements == (Funding(kes(100_000)),)
    assert step.escrow.funded_at == FUNDED_AT


def test_late_funding_is_still_accepted_until_the_escrow_expires() -> None:
    late = T0 + timedelta(days=5)
    assert fund_escrow(escrow=two_lot_escrow(), amount=kes(100_000), now=late).escrow.is_funded
    expired = perform(two_lot_escrow(), A.EXPIRE, late).escrow
    with pytest.raises(InvalidTransitionError):
        fund_escrow(escrow=expired, amount=kes(100_000), now=late)


def test_cancelling_a_funded_escrow_refunds_it_in_full() -> None:
    step = cancel_escrow(escrow=run([FUND]), now=SHIPPED_AT)
    assert step.movements == (Refund(None, kes(100_000)),)
    assert step.escrow.status is EscrowStatus.CANCELLED
    assert step.escrow.held == kes(0)
    assert cancel_escrow(escrow=two_lot_escrow(), now=FUNDED_AT).movements == ()


def test_partial_acceptance_releases_part_net_of_fee_and_refunds_the_rest() -> None:
    step = accept_lot(escrow=run(delivered_a()), lot_id="A", amount_minor=45_000, now=IN_INSPECTION)
    assert step.movements == (
        Release("A", gross=kes(45_000), fee=kes(1_125), net=kes(43_875)),
        Refund("A", kes(15_000)),
    )
    lot = step.escrow.lot("A")
    assert (lot.status, lot.released, lot.refunded) == (
        LotStatus.PARTIALLY_ACCEPTED,
        kes(45_000),
        kes(15_000),
    )


@pytest.mark.parametrize("amount_minor", [0, -5, 60_001])
def test_acceptance_outside_the_lot_is_refused(amount_minor: int) -> None:
    with pytest.raises(AmountError, match=r"within 1\.\.60000"):
        accept_lot(escrow=run(delivered_a()), lot_id="A", amount_minor=amount_minor, now=IN_INSPECTION)


def test_partial_acceptance_after_inspection_is_refused_full_is_allowed() -> None:
    escrow = run(delivered_a())
    with pytest.raises(AmountError, match="partial acceptance"):
        accept_lot(escrow=escrow, lot_id="A", amount_minor=1_000, now=AFTER_INSPECTION)
    step = accept_lot(escrow=escrow, lot_id="A", amount_minor=60_000, now=AFTER_INSPECTION)
    assert step.escrow.lot("A").status is LotStatus.ACCEPTED


@pytest.mark.parametrize(
    ("seller_minor", "movements"),
    [
        (60_000, (Release("A", kes(60_000), kes(1_500), kes(58_500)),)),
        (20_000, (Release("A", kes(20_000), kes(500), kes(19_500)), Refund("A", kes(40_000)))),
        (2_000, (Release("A", kes(2_000), kes(100), kes(1_900)), Refund("A", kes(58_000)))),
        (0, (Refund("A", kes(60_000)),)),
    ],
)
def test_resolution_any_split_fee_only_on_the_sellers_part(
    seller_minor: int, movements: tuple[Release | Refund, ...]
) -> None:
    escrow = run([*delivered_a(), (A.DISPUTE, "A", IN_INSPECTION)])
    step = resolve_dispute(escrow=escrow, lot_id="A", seller_minor=seller_minor, now=IN_INSPECTION)
    assert step.movements == movements
    assert step.escrow.lot("A").status is LotStatus.RESOLVED
    assert step.escrow.status is EscrowStatus.IN_PROGRESS


@pytest.mark.parametrize("seller_minor", [-1, 60_001])
def test_resolution_outside_the_lot_is_refused(seller_minor: int) -> None:
    escrow = run([*delivered_a(), (A.DISPUTE, "A", IN_INSPECTION)])
    with pytest.raises(AmountError, match="seller's share"):
        resolve_dispute(escrow=escrow, lot_id="A", seller_minor=seller_minor, now=IN_INSPECTION)


def test_escrow_refunded_when_nothing_was_released_completed_otherwise() -> None:
    assert _all_lots_refunded().status is EscrowStatus.REFUNDED
    settled = _all_lots_settled()
    assert settled.status is EscrowStatus.COMPLETED
    assert settled.closed_at == T0 + timedelta(days=14)
    assert settled.held == kes(0)


def test_unknown_lot_is_a_404() -> None:
    with pytest.raises(UnknownLotError) as caught:
        perform(run([FUND]), A.SHIP, SHIPPED_AT, "Z")
    assert caught.value.status_code == 404


def test_now_must_be_tz_aware_utc_and_recorded_times_never_go_backwards() -> None:
    escrow = run([FUND])
    with pytest.raises(ValueError, match="UTC"):
        perform(escrow, A.SHIP, datetime(2025, 3, 2, 8, 0), "A")
    with pytest.raises(ValueError, match="UTC"):
        perform(escrow, A.SHIP, SHIPPED_AT.astimezone(timezone(timedelta(hours=3))), "A")
    # A clock slightly behind the last change (replica skew) is taken as that change's time,
    # by allowed_actions as by the transitions, so the two never disagree.
    shipped = perform(escrow, A.SHIP, T0, "A").escrow
    assert shipped.lot("A").shipped_at == shipped.updated_at == FUNDED_AT
    late = fund_escrow(escrow=two_lot_escrow(), amount=kes(100_000), now=T0 + timedelta(days=10)).escrow
    assert allowed_actions(escrow=late, now=T0, lot_id="A") == (A.REFUND_UNDELIVERED, A.SHIP)
    assert perform(late, A.REFUND_UNDELIVERED, T0, "A").escrow.lot("A").status is LotStatus.REFUNDED


@pytest.mark.parametrize(
    ("lots", "message"),
    [
        ([], "at least one lot"),
        ([LotTerms("A", kes(1), T0), LotTerms("A", kes(1), T0)], "unique"),
        ([LotTerms("A", kes(1), T0), LotTerms("B", Money(1, "UGX"), T0)], "positive"),
        ([LotTerms("A", kes(0), T0)], "positive"),
    ],
)
def test_open_escrow_validates_its_lots(lots: list[LotTerms], message: str) -> None:
    with pytest.raises(AmountError, match=message):
        open_escrow(
            escrow_id="E9",
            buyer_id="B",
            seller_id="S",
            lots=lots,
            fee_schedule=FEES,
            inspection_period=INSPECTION,
            funding_deadline=T0 + timedelta(days=1),
            now=T0,
        )


def test_open_escrow_validates_its_deadlines() -> None:
    lots = [LotTerms("A", kes(1), T0)]
    with pytest.raises(ValueError, match="funding deadline"):
        open_escrow(
            escrow_id="E9",
            buyer_id="B",
            seller_id="S",
            lots=lots,
            fee_schedule=FEES,
            inspection_period=INSPECTION,
            funding_deadline=T0,
            now=T0,
        )
    with pytest.raises(ValueError, match="inspection period"):
        open_escrow(
            escrow_id="E9",
            buyer_id="B",
            seller_id="S",
            lots=lots,
            fee_schedule=FEES,
            inspection_period=timedelta(0),
            funding_deadline=T0 + timedelta(days=1),
            now=T0,
        )
