"""A marketplace party's trade summary as seller, for credit scoring (issue 11).

Definitions (each escrow counted is one of the party's escrows *as seller*, funded, and
created in the window ``[as_of - 12 months, as_of)``; its lots are read as they stand now):

* **escrows**: those escrows; **completed**: status ``completed`` (every lot final and some
  money released to the seller; an escrow whose lots were all refunded is ``refunded``);
* **gross** (per currency): money released to the seller's side, the accepted part of each
  lot (full or partial acceptance, auto-release, the seller's share of a resolution), before
  the platform fee; **net**: gross less the fees those releases paid, read from escrow's
  ledger (before any assignment of proceeds to a lender, which is the seller's money too);
* **on-time delivery rate**: lots delivered strictly before their delivery deadline / lots
  delivered (at the deadline an undelivered lot may already be refunded);
* **acceptance rate**: lots accepted (in full, in part or auto-released) / lots that reached
  a verdict (accepted, rejected or returned, or disputed after delivery);
* **dispute rate**: escrows with a disputed lot / escrows;
* **refunds** (per currency): lots with money refunded to the buyer, and the amount.

Rates are exact decimal strings to four places (half-even), with their counts; a rate with
nothing to count is ``"0.0000"`` over 0. An unknown party has an empty summary.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.orm import Session

from services.escrow.repository import parties as party_repo
from services.escrow.schemas.parties import CurrencyVolume, Rate, TradeSummaryOut
from shared.clock import as_utc

WINDOW_MONTHS = 12


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` less ``months`` calendar months (the day clamped to the month's last)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    for day in range(moment.day, 0, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def rate(numerator: int, denominator: int) -> Rate:
    """``numerator / denominator`` to four places, half-even; ``"0.0000"`` over nothing."""
    value = Decimal(0) if denominator == 0 else Decimal(numerator) / Decimal(denominator)
    return Rate(
        value=str(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)),
        numerator=numerator,
        denominator=denominator,
    )


def trade_summary(session: Session, *, party_id: str, as_of: datetime) -> TradeSummaryOut:
    """The party's trade as seller over the twelve months before ``as_of`` (converted to UTC)."""
    end = as_utc(as_of)
    start = months_before(end, WINDOW_MONTHS)
    rows = party_repo.trade_summary(session, party_id, start=start, end=end)
    escrows = sum(r.escrows for r in rows)
    return TradeSummaryOut(
        party_id=party_id,
        as_of=end,
        window_start=start,
        escrows=escrows,
        completed_escrows=sum(r.completed_escrows for r in rows),
        on_time_delivery_rate=rate(
            sum(r.lots_delivered_on_time for r in rows), sum(r.lots_delivered for r in rows)
        ),
        acceptance_rate=rate(sum(r.lots_accepted for r in rows), sum(r.lots_with_verdict for r in rows)),
        dispute_rate=rate(sum(r.disputed_escrows for r in rows), escrows),
        currencies=[
            CurrencyVolume(
                currency=r.currency,
                escrows=r.escrows,
                completed_escrows=r.completed_escrows,
                gross_minor=r.gross_minor,
                fees_minor=r.fees_minor,
                net_minor=r.gross_minor - r.fees_minor,
                refunds=r.refunds,
                refunded_minor=r.refunded_minor,
            )
            for r in rows
        ],
    )
