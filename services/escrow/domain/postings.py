"""Journal entries for each escrow money movement, and the per-escrow totals read back from them.

Entries (Dr = debit, Cr = credit; see ``ledger`` for the accounts)::

    funding confirmed   Dr provider_clearing        Cr escrow_holding[escrow]
    release of a lot    Dr escrow_holding[escrow]   Cr platform_fee_revenue   (fee)
                                                    Cr seller_payable[seller] (net less sweeps)
                                                    Cr lender_receivable[lender] (each sweep)
    refund to buyer     Dr escrow_holding[escrow]   Cr buyer_refund_payable[buyer]
    payout instructed   Dr <payable>                Cr payout_clearing
    payout settled      Dr payout_clearing          Cr provider_clearing
    payout returned     Dr payout_clearing          Cr <payable>
    unapplied payment   Dr provider_clearing        Cr buyer_refund_payable[buyer]
    sweep refunded      Dr lender_receivable[lender] Cr seller_payable[seller]

A leg of zero is left out (a release whose fee takes it all has no seller leg), since every
leg must be positive.

Per-escrow totals (``escrow_totals``), in the escrow's currency:

* ``funded``   - what buyers' payments put into the escrow's holding account;
* ``released`` - what left the holding for the seller's side: the seller's net *plus* the
  lenders' sweeps (both after the fee);
* ``fees``     - the platform fees taken from releases;
* ``refunded`` - what went back to the buyer;
* ``held``     - the holding account's balance on its normal (credit) side.

Each figure is read from a different account, so ``funded == released + refunded + fees +
held`` is a real check (``EscrowTotals.is_conserved``), true for any set of balanced entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.escrow.domain.assignment import (
    Assignment,
    ReleaseSplit,
    Sweep,
    record_sweeps,
    split_release,
)
from services.escrow.domain.ledger import (
    PLATFORM,
    AccountKind,
    AccountRef,
    EntryKind,
    JournalEntry,
    Posting,
    Side,
    build_entry,
    credit,
    debit,
)
from services.escrow.domain.model import Funding, Refund, Release, Transition
from shared.money import Money

# --- accounts -------------------------------------------------------------------------------


def holding_account(*, escrow_id: str, currency: str) -> AccountRef:
    """The escrow's own holding account."""
    return AccountRef(AccountKind.ESCROW_HOLDING, escrow_id, currency)


def seller_payable_account(*, seller_id: str, currency: str) -> AccountRef:
    """What the platform owes a seller."""
    return AccountRef(AccountKind.SELLER_PAYABLE, seller_id, currency)


def buyer_refund_account(*, buyer_id: str, currency: str) -> AccountRef:
    """Refunds owed to a buyer."""
    return AccountRef(AccountKind.BUYER_REFUND_PAYABLE, buyer_id, currency)


def lender_account(*, lender_id: str, currency: str) -> AccountRef:
    """Proceeds assigned to a lender, awaiting payout."""
    return AccountRef(AccountKind.LENDER_RECEIVABLE, lender_id, currency)


def fee_revenue_account(*, currency: str) -> AccountRef:
    """The platform's fee revenue."""
    return AccountRef(AccountKind.PLATFORM_FEE_REVENUE, PLATFORM, currency)


def provider_clearing_account(*, provider: str, currency: str) -> AccountRef:
    """Money the payment provider holds for the platform."""
    return AccountRef(AccountKind.PROVIDER_CLEARING, provider, currency)


def payout_clearing_account(*, provider: str, currency: str) -> AccountRef:
    """Payouts instructed at the provider and not yet confirmed."""
    return AccountRef(AccountKind.PAYOUT_CLEARING, provider, currency)


# --- entries --------------------------------------------------------------------------------


def funding_entry(*, escrow_id: str, amount: Money, provider: str, ref: str) -> JournalEntry:
    """The buyer's payment arrived at the provider: provider clearing -> escrow holding."""
    return build_entry(
        kind=EntryKind.FUNDING,
        postings=[
            debit(provider_clearing_account(provider=provider, currency=amount.currency), amount),
            credit(holding_account(escrow_id=escrow_id, currency=amount.currency), amount),
        ],
        memo=f"funding of escrow {escrow_id} via {provider}",
        ref=ref,
    )


def release_entry(
    *, escrow_id: str, seller_id: str, release: Release, split: ReleaseSplit, ref: str
) -> JournalEntry:
    """A lot's release: holding -> fee revenue + seller payable + each lender's receivable."""
    currency = release.gross.currency
    swept = sum(s.amount.minor for s in split.sweeps)
    if split.to_seller.minor + swept != release.net.minor or release.fee + release.net != release.gross:
        raise ValueError("release split does not add up to the released gross amount")
    legs = [
        debit(holding_account(escrow_id=escrow_id, currency=currency), release.gross),
        *_credit_if_positive(fee_revenue_account(currency=currency), release.fee),
        *_credit_if_positive(seller_payable_account(seller_id=seller_id, currency=currency), split.to_seller),
    ]
    for sweep in split.sweeps:
        legs.append(
            credit(
                lender_account(lender_id=sweep.assignment.lender_id, currency=currency),
                sweep.amount,
            )
        )
    return build_entry(
        kind=EntryKind.RELEASE,
        postings=legs,
        memo=(
            f"release of lot {release.lot_id} of escrow {escrow_id}: gross {release.gross.minor}, "
            f"fee {release.fee.minor}, to seller {split.to_seller.minor}, to lenders {swept}"
        ),
        ref=ref,
    )


def refund_entry(*, escrow_id: str, buyer_id: str, refund: Refund, ref: str) -> JournalEntry:
    """Money back to the buyer: escrow holding -> buyer refund payable."""
    currency = refund.amount.currency
    what = "escrow" if refund.lot_id is None else f"lot {refund.lot_id} of escrow"
    return build_entry(
        kind=EntryKind.REFUND,
        postings=[
            debit(holding_account(escrow_id=escrow_id, currency=currency), refund.amount),
            credit(buyer_refund_account(buyer_id=buyer_id, currency=currency), refund.amount),
        ],
        memo=f"refund of {what} {escrow_id}",
        ref=ref,
    )


def payout_entry(*, payable: AccountRef, amount: Money, provider: str, ref: str) -> JournalEntry:
    """A payout instructed: a payee's payable (seller, buyer refund, lender) -> payout clearing."""
    return build_entry(
        kind=EntryKind.PAYOUT,
        postings=[
            debit(payable, amount),
            credit(payout_clearing_account(provider=provider, currency=amount.currency), amount),
        ],
        memo=f"payout to {payable}",
        ref=ref,
    )


def payout_settled_entry(*, amount: Money, provider: str, ref: str) -> JournalEntry:
    """The provider confirmed a payout: payout clearing -> provider clearing."""
    return build_entry(
        kind=EntryKind.PAYOUT_SETTLED,
        postings=[
            debit(payout_clearing_account(provider=provider, currency=amount.currency), amount),
            credit(provider_clearing_account(provider=provider, currency=amount.currency), amount),
        ],
        memo=f"payout settled by {provider}",
        ref=ref,
    )


def payout_returned_entry(*, payable: AccountRef, amount: Money, provider: str, ref: str) -> JournalEntry:
    """The provider returned a payout: payout clearing -> back to the payee's payable."""
    return build_entry(
        kind=EntryKind.PAYOUT_RETURNED,
        postings=[
            debit(payout_clearing_account(provider=provider, currency=amount.currency), amount),
            credit(payable, amount),
        ],
        memo=f"payout to {payable} returned by {provider}",
        ref=ref,
    )


def unapplied_payment_entry(*, buyer_id: str, amount: Money, provider: str, ref: str) -> JournalEntry:
    """A payment that cannot fund its escrow (wrong amount, or the escrow no longer waits for
    money) arrived at the provider all the same: it is owed back to the buyer, untouched by
    any escrow's holding."""
    return build_entry(
        kind=EntryKind.REFUND,
        postings=[
            debit(provider_clearing_account(provider=provider, currency=amount.currency), amount),
            credit(buyer_refund_account(buyer_id=buyer_id, currency=amount.currency), amount),
        ],
        memo=f"payment via {provider} that cannot fund an escrow, owed back to buyer {buyer_id}",
        ref=ref,
    )


def sweep_refund_entry(
    *, assignment_id: str, lender_id: str, seller_id: str, amount: Money, ref: str
) -> JournalEntry:
    """Swept money the loan did not take goes back: lender receivable -> seller payable."""
    return build_entry(
        kind=EntryKind.SWEEP_REFUND,
        postings=[
            debit(lender_account(lender_id=lender_id, currency=amount.currency), amount),
            credit(seller_payable_account(seller_id=seller_id, currency=amount.currency), amount),
        ],
        memo=(
            f"refund to seller {seller_id} of money swept to lender {lender_id} "
            f"under assignment {assignment_id}"
        ),
        ref=ref,
    )


def _credit_if_positive(account: AccountRef, amount: Money) -> list[Posting]:
    return [credit(account, amount)] if amount.minor > 0 else []


# --- a transition's entries -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostingPlan:
    """The entries a transition needs posted, and the assignments after its sweeps."""

    entries: tuple[JournalEntry, ...]
    sweeps: tuple[Sweep, ...]
    assignments: tuple[Assignment, ...]


def entries_for_transition(
    *, transition: Transition, assignments: Sequence[Assignment], provider: str, ref: str
) -> PostingPlan:
    """Journal entries for every movement of ``transition``, refs ``{ref}/1``, ``{ref}/2``...

    ``assignments`` are the seller's assignments of proceeds as they stand; those in the
    release's currency take their share, and the plan carries them updated by the sweeps.
    """
    escrow = transition.escrow
    entries: list[JournalEntry] = []
    sweeps: list[Sweep] = []
    current = tuple(assignments)
    for index, movement in enumerate(transition.movements, start=1):
        entry_ref = f"{ref}/{index}"
        if isinstance(movement, Funding):
            entries.append(
                funding_entry(
                    escrow_id=escrow.escrow_id,
                    amount=movement.amount,
                    provider=provider,
                    ref=entry_ref,
                )
            )
        elif isinstance(movement, Release):
            # A loan is swept only from releases in its own currency (no FX here).
            same_currency = [a for a in current if a.cap.currency == movement.net.currency]
            split = split_release(net_to_seller=movement.net, assignments=same_currency)
            current = record_sweeps(assignments=current, sweeps=split.sweeps)
            sweeps.extend(split.sweeps)
            entries.append(
                release_entry(
                    escrow_id=escrow.escrow_id,
                    seller_id=escrow.seller_id,
                    release=movement,
                    split=split,
                    ref=entry_ref,
                )
            )
        else:
            entries.append(
                refund_entry(
                    escrow_id=escrow.escrow_id,
                    buyer_id=escrow.buyer_id,
                    refund=movement,
                    ref=entry_ref,
                )
            )
    return PostingPlan(entries=tuple(entries), sweeps=tuple(sweeps), assignments=current)


# --- totals ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EscrowTotals:
    """Money of one escrow by destination, read from the ledger (see the module docstring)."""

    funded: Money
    released: Money
    refunded: Money
    fees: Money
    held: Money

    @property
    def is_conserved(self) -> bool:
        """True when funded == released + refunded + fees + held."""
        out = self.released + self.refunded + self.fees + self.held
        return self.funded == out


_RELEASED_TO = frozenset({AccountKind.SELLER_PAYABLE, AccountKind.LENDER_RECEIVABLE})


def escrow_totals(*, escrow_id: str, currency: str, entries: Iterable[JournalEntry]) -> EscrowTotals:
    """Funded, released (net to seller + lenders), refunded, fees and held of one escrow."""
    holding = holding_account(escrow_id=escrow_id, currency=currency)
    sums = dict.fromkeys(("funded", "released", "refunded", "fees", "held"), 0)
    for entry in entries:
        if not any(leg.account == holding for leg in entry.postings):
            continue
        for leg in entry.postings:
            kind, minor = leg.account.kind, leg.amount.minor
            if leg.account == holding:
                sums["held"] += minor if leg.side is Side.CREDIT else -minor
            elif kind is AccountKind.PROVIDER_CLEARING and leg.side is Side.DEBIT:
                sums["funded"] += minor
            elif kind in _RELEASED_TO and leg.side is Side.CREDIT:
                sums["released"] += minor
            elif kind is AccountKind.PLATFORM_FEE_REVENUE and leg.side is Side.CREDIT:
                sums["fees"] += minor
            elif kind is AccountKind.BUYER_REFUND_PAYABLE and leg.side is Side.CREDIT:
                sums["refunded"] += minor
    return EscrowTotals(**{name: Money(value, currency) for name, value in sums.items()})
