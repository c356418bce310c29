"""Ledger routes for auditors: the trial balance and a full verification."""

from __future__ import annotations

from services.escrow.api.deps import FinanceReaderDep
from services.escrow.schemas import LedgerReport, TrialBalanceOut
from services.escrow.service import ledger
from shared.api import SessionDep, service_router

router = service_router(prefix="/v1/ledger", tags=["ledger"])


@router.get("/trial-balance", response_model=TrialBalanceOut)
def trial_balance(session: SessionDep, _: FinanceReaderDep) -> TrialBalanceOut:
    """Every account's balance in its debit or credit column; per currency the columns agree."""
    return ledger.trial_balance(session)


@router.get("/verify", response_model=LedgerReport)
def verify_ledger(session: SessionDep, _: FinanceReaderDep) -> LedgerReport:
    """Recompute every balance from the postings and check every entry sums to zero."""
    return ledger.verify_ledger(session)
