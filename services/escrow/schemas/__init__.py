"""Request and response bodies of the escrow API (pydantic); money is integer minor units.

* ``common``    minor-unit amounts, parties, strict bodies
* ``escrows``   escrows and lot actions
* ``ledger``    entries, trial balance, verification
* ``payments``  provider callbacks, sandbox, payouts, assignments
"""

from __future__ import annotations

from services.escrow.schemas.escrows import (
    AcceptIn,
    CancelIn,
    DisputeIn,
    EscrowIn,
    EscrowList,
    EscrowOut,
    EscrowSummary,
    FeeIn,
    FeeOut,
    LotIn,
    LotOut,
    PaymentOut,
    RejectIn,
    ResolveIn,
    ShipIn,
    TimelineItem,
)
from services.escrow.schemas.ledger import (
    AccountBalance,
    CurrencyTotals,
    EntryList,
    EntryOut,
    LedgerReport,
    PostingOut,
    TrialBalanceOut,
)
from services.escrow.schemas.payments import (
    AssignmentIn,
    AssignmentList,
    AssignmentOut,
    AssignmentRefundIn,
    AssignmentRefundOut,
    AssignmentSweepOut,
    AssignmentSweeps,
    CallbackResult,
    PayoutIn,
    PayoutList,
    PayoutOut,
    SandboxConfirmIn,
    SandboxPaymentResult,
    SandboxPayoutResult,
    SandboxSettleIn,
)

__all__ = [
    "AcceptIn",
    "AccountBalance",
    "AssignmentIn",
    "AssignmentList",
    "AssignmentOut",
    "AssignmentRefundIn",
    "AssignmentRefundOut",
    "AssignmentSweepOut",
    "AssignmentSweeps",
    "CallbackResult",
    "CancelIn",
    "CurrencyTotals",
    "DisputeIn",
    "EntryList",
    "EntryOut",
    "EscrowIn",
    "EscrowList",
    "EscrowOut",
    "EscrowSummary",
    "FeeIn",
    "FeeOut",
    "LedgerReport",
    "LotIn",
    "LotOut",
    "PaymentOut",
    "PayoutIn",
    "PayoutList",
    "PayoutOut",
    "PostingOut",
    "RejectIn",
    "ResolveIn",
    "SandboxConfirmIn",
    "SandboxPaymentResult",
    "SandboxPayoutResult",
    "SandboxSettleIn",
    "ShipIn",
    "TimelineItem",
    "TrialBalanceOut",
]
