"""Pure domain of the loans service: terms, schedule engine, account replay, arrears, PAR.

No FastAPI, no SQL, no wall clock. Modules, top-down:

* ``terms``        – ``LoanTerms`` (the product fields) and its enums, ``Fee``, ``OverduePenalty``
* ``dates``        – anchored due dates, month clamping, day counts
* ``schedule``     – ``build_schedule`` → ``Schedule`` of ``ScheduleRow``
* ``transactions`` – ``Repayment``, ``PenaltyCharge``, ``Reversal``, ``WriteOff``
* ``account``      – ``LoanAccount`` / ``replay_account``: allocation, status, arrears, accrual
* ``arrears``      – delinquency buckets, penalty assessments, interest accrual
* ``portfolio``    – ``portfolio_at_risk`` (PAR1/30/90 per product and total)
* ``lifecycle``    – application and loan statuses, their transition tables, ``allowed_*_actions``
* ``installments`` – an installment's status (paid, overdue, partially paid, upcoming)
* ``outcomes``     – repayment, disbursement and write-off results as ``Money``
* ``projection``   – stored rows (as Protocols) → ``LoanAccount``; one replay → ``Projection``
* ``repayment_limit`` – the most a repayment may be: what is owed plus a tolerance
* ``business_date`` – how far the business date may move, corrections, the next day COB closes

Every rejected input raises ``ValueError`` with a message fit for a problem+json ``detail``.
"""

from services.loans.domain.account import (
    AccountState,
    AccountStatus,
    Allocation,
    Components,
    InstallmentState,
    LoanAccount,
    days_past_due_of,
    replay_account,
)
from services.loans.domain.arrears import (
    DelinquencyBucket,
    InterestAccrual,
    PenaltyAssessment,
    delinquency_bucket,
)
from services.loans.domain.portfolio import (
    LoanExposure,
    ParFigure,
    ParReport,
    PortfolioAtRisk,
    exposure_of,
    portfolio_at_risk,
)
from services.loans.domain.schedule import Schedule, ScheduleRow, build_schedule
from services.loans.domain.terms import (
    AllocationComponent,
    Amortization,
    ChargeCalculation,
    ChargeTiming,
    DaysInMonth,
    DaysInYear,
    Fee,
    InterestCalculationPeriod,
    InterestMethod,
    LoanTerms,
    OverduePenalty,
    PenaltyFrequency,
    RepaymentFrequency,
)
from services.loans.domain.transactions import (
    PenaltyCharge,
    PenaltyKey,
    Repayment,
    Reversal,
    Transaction,
    WriteOff,
)

__all__ = [
    "AccountState",
    "AccountStatus",
    "Allocation",
    "AllocationComponent",
    "Amortization",
    "ChargeCalculation",
    "ChargeTiming",
    "Components",
    "DaysInMonth",
    "DaysInYear",
    "DelinquencyBucket",
    "Fee",
    "InstallmentState",
    "InterestAccrual",
    "InterestCalculationPeriod",
    "InterestMethod",
    "LoanAccount",
    "LoanExposure",
    "LoanTerms",
    "OverduePenalty",
    "ParFigure",
    "ParReport",
    "PenaltyAssessment",
    "PenaltyCharge",
    "PenaltyFrequency",
    "PenaltyKey",
    "PortfolioAtRisk",
    "Repayment",
    "RepaymentFrequency",
    "Reversal",
    "Schedule",
    "ScheduleRow",
    "Transaction",
    "WriteOff",
    "build_schedule",
    "days_past_due_of",
    "delinquency_bucket",
    "exposure_of",
    "portfolio_at_risk",
    "replay_account",
]
