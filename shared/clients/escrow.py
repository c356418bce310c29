"""Typed client of the escrow service over an injected ``httpx.Client``.

* escrows: ``list_escrows`` (``EscrowFilters``, limit, offset), ``get_escrow`` (lots, the
  money view read from escrow's ledger, the timeline), ``entries`` (journal entries);
* the marketplace's checkout: ``create_escrow`` (``NewLot``s), ``fund_escrow`` (the buyer's
  payment at the provider), ``ship_lot`` / ``deliver_lot`` / ``accept_lot``, and for an admin
  on the sandbox provider ``confirm_sandbox_payment`` (the worker confirms it within seconds);
* the ledger, for auditors: ``trial_balance``, ``verify_ledger``; money out and proceeds:
  ``list_payouts`` / ``get_payout``, ``list_assignments`` / ``get_assignment`` /
  ``create_assignment`` (loans registers one on disbursement) / ``close_assignment`` (when
  the loan ends) / ``refund_sweep`` (a sweep that over-paid the loan goes back to the seller)
  / ``assignment_sweeps`` (the sweeps with their ``assignment.swept`` event ids, the refunds);
* a marketplace party's trade as seller, for scoring: ``trade_summary(party_id, as_of)``;
* the webhook subscriptions (loans subscribes itself to ``assignment.swept``) and audit
  routes every service has (``PlatformClient``).

Money is integer minor units beside its currency, never a float. Errors are the shared
client's: ``ServiceUnreachable``, and ``UpstreamProblem`` for escrow's problem answers (a
marketplace asking for another marketplace's escrow gets its 404, a lot action the lot does
not allow now a 409 with ``allowed_actions``) and, as a 502, for an answer that does not
parse as below; each names the service when the client was given ``service=``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, ValidationError

from shared.clients.platform import PlatformClient, unexpected_answer

Minor = StrictInt
"""An amount in minor units (an integer in the answer; a float or a string is refused)."""


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EscrowFilters(BaseModel):
    """What ``list_escrows`` keeps; times are aware (``created_from`` inclusive, ``created_to`` not)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_ref: str | None = None
    status: str | None = None
    seller_id: str | None = None
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None

    def params(self) -> dict[str, str]:
        """The query parameters of these filters."""
        given = self.model_dump(exclude_none=True).items()
        return {k: v.isoformat() if isinstance(v, datetime) else str(v) for k, v in given}


class NewLot(BaseModel):
    """A lot of a new escrow; ``delivery_deadline`` (aware) overrides the escrow's for this lot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lot_ref: str
    amount_minor: Minor
    description: str = ""
    delivery_deadline: AwareDatetime | None = None

    def body(self) -> dict[str, Any]:
        """The lot as ``POST /v1/escrows`` takes it."""
        return self.model_dump(mode="json", exclude_none=True)


class EscrowSummary(_Answer):
    """An escrow in a list."""

    id: str
    marketplace: str
    order_ref: str
    buyer_id: str
    seller_id: str
    status: str
    currency: str
    total_minor: Minor
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None


class EscrowMoney(BaseModel):
    """An escrow's money by destination, as escrow's ledger has it (one currency per escrow)."""

    model_config = ConfigDict(frozen=True)

    currency: str
    funded_minor: int
    released_minor: int
    """What went to the seller's side after fees (the seller and any lender swept a share)."""
    refunded_minor: int
    fees_minor: int
    held_minor: int

    @property
    def conserved(self) -> bool:
        """True when funded = released + refunded + fees + held (escrow guarantees it)."""
        out = self.released_minor + self.refunded_minor + self.fees_minor + self.held_minor
        return self.funded_minor == out


class Fee(_Answer):
    """An escrow's fee terms: ``bps`` of each release, at least ``min_minor``."""

    bps: int
    min_minor: Minor


class Lot(_Answer):
    """A lot's state; ``released_minor`` is gross (before the fee), ``refunded_minor`` to the buyer."""

    lot_ref: str
    description: str = ""
    amount_minor: Minor
    status: str
    released_minor: Minor
    refunded_minor: Minor
    delivery_deadline: datetime
    carrier: str | None = None
    tracking: str | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    inspection_ends_at: datetime | None = None
    closed_at: datetime | None = None
    rejection_reason: str | None = None
    dispute_reason: str | None = None
    allowed_actions: list[str] = Field(default_factory=list)


class TimelineItem(_Answer):
    """One thing that happened to an escrow (``actor`` names a person acting via the console)."""

    at: datetime
    event: str
    lot_ref: str | None = None
    actor: str
    data: dict[str, Any] = Field(default_factory=dict)


class Payment(_Answer):
    """A payment started at a provider to fund an escrow."""

    id: str
    provider: str
    provider_ref: str
    currency: str
    amount_minor: Minor
    received_minor: Minor | None = None
    status: str
    detail: str | None = None
    created_at: datetime
    updated_at: datetime


class SandboxConfirmation(_Answer):
    """How escrow handled the sandbox's signed callback, and the payment afterwards."""

    status: Literal["processed", "duplicate", "ignored"]
    event_id: str
    detail: str
    payment: Payment


class Escrow(_Answer):
    """An escrow with its lots, payments, money from the ledger, allowed actions and timeline."""

    id: str
    marketplace: str
    order_ref: str
    buyer_id: str
    seller_id: str
    currency: str
    total_minor: Minor
    fee: Fee
    inspection_period_hours: int
    funding_deadline: datetime
    delivery_deadline: datetime
    provider: str
    status: str
    funded_minor: Minor
    released_minor: Minor
    refunded_minor: Minor
    fees_minor: Minor
    held_minor: Minor
    allowed_actions: list[str] = Field(default_factory=list)
    lots: list[Lot]
    payments: list[Payment] = Field(default_factory=list)
    timeline: list[TimelineItem]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None

    @property
    def money(self) -> EscrowMoney:
        """The money view: funded, released, refunded, fees and held, in the escrow's currency."""
        return EscrowMoney(
            currency=self.currency,
            funded_minor=self.funded_minor,
            released_minor=self.released_minor,
            refunded_minor=self.refunded_minor,
            fees_minor=self.fees_minor,
            held_minor=self.held_minor,
        )


class Posting(_Answer):
    """One leg of a journal entry."""

    account: str
    kind: str
    owner: str
    currency: str
    side: Literal["debit", "credit"]
    amount_minor: Minor


class Entry(_Answer):
    """A journal entry with its legs (they sum to zero per currency)."""

    id: int
    ref: str
    kind: str
    memo: str = ""
    created_at: datetime
    postings: list[Posting]


class CurrencyTotals(_Answer):
    """One currency of the trial balance: the debit column against the credit column."""

    currency: str
    debits_minor: Minor
    credits_minor: Minor


class AccountBalance(_Answer):
    """One account of the trial balance; its balance sits in one of the two columns."""

    account: str
    kind: str
    owner: str
    currency: str
    debit_minor: Minor
    credit_minor: Minor
    may_go_negative: bool


class TrialBalance(_Answer):
    """Every account's balance and, per currency, the two columns; ``balanced`` when they agree."""

    currencies: list[CurrencyTotals]
    accounts: list[AccountBalance]
    balanced: bool


class LedgerVerification(_Answer):
    """Escrow's recomputation of every balance from the postings; the first problem named."""

    ok: bool
    accounts: int
    entries: int
    postings: int
    first_problem: str | None = None
    problems: list[str] = Field(default_factory=list)


class Payout(_Answer):
    """Money paid out to a seller, buyer or lender through a provider."""

    id: str
    provider: str
    provider_ref: str
    payee_kind: str
    payee_id: str
    currency: str
    amount_minor: Minor
    status: str
    created_at: datetime
    updated_at: datetime


class Assignment(_Answer):
    """An assignment of a seller's proceeds to a lender, and how much of its cap is swept."""

    id: str
    seller_id: str
    lender_id: str
    currency: str
    share_bps: int
    cap_minor: Minor
    swept_minor: Minor
    remaining_minor: Minor
    refunded_minor: Minor = 0
    """Of ``swept_minor``, what escrow has refunded to the seller."""
    loan_ref: str
    status: str
    created_at: datetime
    updated_at: datetime


class AssignmentRefund(_Answer):
    """Swept money refunded to the seller (lender receivable -> seller payable), once per reference."""

    id: int
    assignment_id: str | None = None
    reference: str
    reason: str
    currency: str | None = None
    amount_minor: Minor
    entry_ref: str | None = None
    created_at: datetime
    created_by: str


class AssignmentSweep(_Answer):
    """One release's share swept to the lender; ``event_id`` is its ``assignment.swept`` event."""

    id: int
    escrow_id: str
    lot_ref: str
    entry_ref: str
    event_id: str | None = None
    """None for sweeps escrow recorded before it kept the event id."""
    amount_minor: Minor
    created_at: datetime


class AssignmentSweeps(_Answer):
    """An assignment with its sweeps and refunds, oldest first; ``net_minor`` = swept - refunded."""

    assignment: Assignment
    sweeps: list[AssignmentSweep]
    refunds: list[AssignmentRefund]
    swept_minor: Minor
    refunded_minor: Minor
    net_minor: Minor


class TradeRate(_Answer):
    """A rate as escrow states it: an exact 4-place decimal string and the counts behind it."""

    value: str
    numerator: StrictInt
    denominator: StrictInt

    @property
    def decimal(self) -> Decimal:
        """The rate as a ``Decimal`` (never a float)."""
        return Decimal(self.value)


class TradeVolume(_Answer):
    """One currency of a trade summary: escrows, gross / fees / net released, refunds."""

    currency: str
    escrows: StrictInt
    completed_escrows: StrictInt
    gross_minor: Minor
    fees_minor: Minor
    net_minor: Minor
    refunds: StrictInt
    refunded_minor: Minor


class TradeSummary(_Answer):
    """A party's trade as seller over the twelve months before ``as_of`` (escrow's definitions)."""

    party_id: str
    as_of: datetime
    window_start: datetime
    escrows: StrictInt
    completed_escrows: StrictInt
    on_time_delivery_rate: TradeRate
    acceptance_rate: TradeRate
    dispute_rate: TradeRate
    currencies: list[TradeVolume]

    def volume(self, currency: str) -> TradeVolume | None:
        """The figures of one currency, or None when the party sold nothing in it."""
        return next((v for v in self.currencies if v.currency == currency), None)


class _EscrowPage(_Answer):
    escrows: list[EscrowSummary]


class _Entries(_Answer):
    escrow_id: str
    entries: list[Entry]


class _PayoutPage(_Answer):
    payouts: list[Payout]


class _AssignmentPage(_Answer):
    assignments: list[Assignment]


Model = TypeVar("Model", bound=BaseModel)
Parsed = TypeVar("Parsed")


def _segment(value: str) -> str:
    """A path segment, escaped: an id never reaches another route (``../ledger/verify``)."""
    return quote(value, safe="")


def _lot_path(escrow_id: str, lot_ref: str, action: str) -> str:
    return f"/v1/escrows/{_segment(escrow_id)}/lots/{_segment(lot_ref)}/{action}"


def _given(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


def _aware(**times: datetime | None) -> None:
    """Refuse a naive time before the call (escrow would answer 422; a caller's bug either way)."""
    for name, value in times.items():
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")


class EscrowClient(PlatformClient):
    """Calls the escrow service."""

    def _parsed(self, what: str, response: httpx.Response, parse: Callable[[Any], Parsed]) -> Parsed:
        """The answer as ``parse`` reads it; a 502 problem (naming the service) when it is not
        JSON or not that shape."""
        try:
            return parse(response.json())
        except (ValueError, ValidationError) as exc:
            problem = unexpected_answer(what, exc)
            problem.service = self.service
            raise problem from None

    def _get(self, path: str, model: type[Model], params: dict[str, Any] | None = None) -> Model:
        return self._parsed(f"GET {path}", self.request("GET", path, params=params), model.model_validate)

    def _post(self, path: str, model: type[Model], body: Any, idempotency_key: str) -> Model:
        response = self.request("POST", path, json=body, idempotency_key=idempotency_key)
        return self._parsed(f"POST {path}", response, model.model_validate)

    def list_escrows(
        self, filters: EscrowFilters | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[EscrowSummary]:
        """Escrows the caller may see (a marketplace only its own), newest first."""
        params: dict[str, Any] = {**(filters or EscrowFilters()).params(), "limit": limit, "offset": offset}
        return self._get("/v1/escrows", _EscrowPage, params).escrows

    def get_escrow(self, escrow_id: str) -> Escrow:
        """One escrow with its lots, money view and timeline (another marketplace's: a 404)."""
        return self._get(f"/v1/escrows/{_segment(escrow_id)}", Escrow)

    def entries(self, escrow_id: str) -> list[Entry]:
        """The escrow's journal entries with their postings, oldest first."""
        return self._get(f"/v1/escrows/{_segment(escrow_id)}/entries", _Entries).entries

    def create_escrow(
        self,
        *,
        order_ref: str,
        buyer_id: str,
        seller_id: str,
        currency: str,
        lots: Sequence[NewLot],
        fee_bps: int,
        fee_min_minor: int = 0,
        inspection_period_hours: int,
        funding_deadline: datetime,
        delivery_deadline: datetime,
        marketplace: str | None = None,
        idempotency_key: str,
    ) -> Escrow:
        """Open an escrow for a marketplace order; it waits for the buyer's payment (marketplace, admin).

        The fee is ``fee_bps`` of each release, at least ``fee_min_minor``; deadlines are aware
        times; only an admin names the owning ``marketplace`` (a marketplace key owns its own).
        """
        _aware(funding_deadline=funding_deadline, delivery_deadline=delivery_deadline)
        body: dict[str, Any] = {
            "order_ref": order_ref,
            "buyer_id": buyer_id,
            "seller_id": seller_id,
            "currency": currency,
            "lots": [lot.body() for lot in lots],
            "fee": {"bps": fee_bps, "min_minor": fee_min_minor},
            "inspection_period_hours": inspection_period_hours,
            "funding_deadline": funding_deadline.isoformat(),
            "delivery_deadline": delivery_deadline.isoformat(),
        }
        if marketplace is not None:
            body["marketplace"] = marketplace
        return self._post("/v1/escrows", Escrow, body, idempotency_key)

    def fund_escrow(self, escrow_id: str, *, idempotency_key: str) -> Payment:
        """Start the buyer's payment at the provider (202); the escrow is funded when it confirms."""
        return self._post(f"/v1/escrows/{_segment(escrow_id)}/fund", Payment, None, idempotency_key)

    def ship_lot(
        self, escrow_id: str, lot_ref: str, *, carrier: str, tracking: str, idempotency_key: str
    ) -> Escrow:
        """The seller shipped the lot (carrier and tracking reference)."""
        body = {"carrier": carrier, "tracking": tracking}
        return self._post(_lot_path(escrow_id, lot_ref, "ship"), Escrow, body, idempotency_key)

    def deliver_lot(self, escrow_id: str, lot_ref: str, *, idempotency_key: str) -> Escrow:
        """The lot was delivered; the buyer's inspection period starts."""
        return self._post(_lot_path(escrow_id, lot_ref, "deliver"), Escrow, None, idempotency_key)

    def accept_lot(
        self, escrow_id: str, lot_ref: str, *, amount_minor: int | None = None, idempotency_key: str
    ) -> Escrow:
        """The buyer accepts the lot: released to the seller less the fee (and any lender's sweep).

        With ``amount_minor`` the buyer accepts that much of it and the rest is refunded.
        """
        body = None if amount_minor is None else {"amount_minor": amount_minor}
        return self._post(_lot_path(escrow_id, lot_ref, "accept"), Escrow, body, idempotency_key)

    def confirm_sandbox_payment(
        self,
        payment_id: str,
        *,
        outcome: Literal["confirmed", "failed"] = "confirmed",
        amount_minor: int | None = None,
        currency: str | None = None,
        idempotency_key: str,
    ) -> SandboxConfirmation:
        """Make the sandbox provider report a payment now (admin; the worker confirms within seconds).

        Defaults: confirmed, the exact amount. A payment already confirmed is escrow's 409.
        """
        body = _given(outcome=outcome, amount_minor=amount_minor, currency=currency)
        path = f"/v1/sandbox/payments/{_segment(payment_id)}/confirm"
        return self._post(path, SandboxConfirmation, body, idempotency_key)

    def trial_balance(self) -> TrialBalance:
        """Every account's balance, per currency debits against credits (auditor, admin)."""
        return self._get("/v1/ledger/trial-balance", TrialBalance)

    def verify_ledger(self) -> LedgerVerification:
        """Escrow's full recomputation of its ledger (auditor, admin)."""
        return self._get("/v1/ledger/verify", LedgerVerification)

    def list_payouts(
        self,
        *,
        payee_kind: Literal["seller", "buyer", "lender"] | None = None,
        payee_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Payout]:
        """Payouts, newest first (auditor, admin)."""
        params = _given(payee_kind=payee_kind, payee_id=payee_id, status=status, limit=limit, offset=offset)
        return self._get("/v1/payouts", _PayoutPage, params).payouts

    def get_payout(self, payout_id: str) -> Payout:
        """One payout and its state at the provider."""
        return self._get(f"/v1/payouts/{_segment(payout_id)}", Payout)

    def list_assignments(
        self, *, seller_id: str | None = None, loan_ref: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Assignment]:
        """Assignments of proceeds, newest first (auditor, admin, loans)."""
        params = _given(seller_id=seller_id, loan_ref=loan_ref, limit=limit, offset=offset)
        return self._get("/v1/assignments", _AssignmentPage, params).assignments

    def get_assignment(self, assignment_id: str) -> Assignment:
        """One assignment and how much of its cap has been swept."""
        return self._get(f"/v1/assignments/{_segment(assignment_id)}", Assignment)

    def create_assignment(
        self,
        *,
        seller_id: str,
        lender_id: str,
        currency: str,
        share_bps: int,
        cap_minor: int,
        loan_ref: str,
        idempotency_key: str,
    ) -> Assignment:
        """Assign ``share_bps`` of a seller's releases to a lender until ``cap_minor`` is swept.

        The same ``idempotency_key`` replays the answer; escrow answers 409 when the seller's
        active assignments in ``currency`` would claim more than 10,000 bps (admin, loans).
        """
        body = {
            "seller_id": seller_id,
            "lender_id": lender_id,
            "currency": currency,
            "share_bps": share_bps,
            "cap_minor": cap_minor,
            "loan_ref": loan_ref,
        }
        return self._post("/v1/assignments", Assignment, body, idempotency_key)

    def refund_sweep(
        self, assignment_id: str, *, amount_minor: int, reference: str, reason: str, idempotency_key: str
    ) -> AssignmentRefund:
        """Refund ``amount_minor`` of what the assignment swept to the seller (admin, loans).

        One refund per ``reference``: the same reference and amount answers the first refund
        again; another amount is escrow's 409 (``current_state`` reference_used), as is more
        than swept and not yet refunded (exceeds_swept) or than the lender's receivable still
        holds (lender_paid_out).
        """
        path = f"/v1/assignments/{_segment(assignment_id)}/refunds"
        body = {"amount_minor": amount_minor, "reference": reference, "reason": reason}
        return self._post(path, AssignmentRefund, body, idempotency_key)

    def assignment_sweeps(self, assignment_id: str) -> AssignmentSweeps:
        """The assignment's sweeps (each with its event id) and refunds, oldest first."""
        return self._get(f"/v1/assignments/{_segment(assignment_id)}/sweeps", AssignmentSweeps)

    def close_assignment(self, assignment_id: str, *, idempotency_key: str) -> Assignment:
        """Close an assignment (its loan ended): escrow sweeps nothing to it again (admin, loans).

        Retrying with the same ``idempotency_key`` replays the answer; closing an assignment
        already closed with another key is escrow's 409 (``current_state`` closed).
        """
        return self._post(
            f"/v1/assignments/{_segment(assignment_id)}/close", Assignment, None, idempotency_key
        )

    def trade_summary(self, party_id: str, as_of: datetime | None = None) -> TradeSummary:
        """The party's trade as seller over the twelve months before ``as_of`` (aware; default now).

        An unknown party has an empty summary (zeros), not a 404 (loans, auditor, admin).
        """
        _aware(as_of=as_of)
        params = None if as_of is None else {"as_of": as_of.isoformat()}
        return self._get(f"/v1/parties/{_segment(party_id)}/trade-summary", TradeSummary, params)
