"""Rows and domain results → the response models of the loans API.

What is allowed next (``allowed_actions``) is the domain's (``domain.lifecycle``); what an
installment's status is, too (``domain.installments``). Presenters only read what the route's
service call returned; they never query.
"""

from __future__ import annotations

import json
from datetime import date

from services.loans.domain import Schedule
from services.loans.domain.installments import installment_status
from services.loans.domain.lifecycle import allowed_application_actions, allowed_loan_actions
from services.loans.models import (
    Application,
    BusinessDateCorrection,
    DecisionPolicy,
    Installment,
    Loan,
    Product,
)
from services.loans.schemas.applications import (
    AdverseReason,
    ApplicationOut,
    DecisionOut,
    ReasonOut,
    ScoreOut,
)
from services.loans.schemas.decision_policy import (
    DecisionPolicyIn,
    DecisionPolicyOut,
    PolicyDecisionOut,
    RuleResultOut,
)
from services.loans.schemas.loans import (
    AllocationOut,
    InstallmentOut,
    LoanOut,
    LoanScheduleOut,
    OutstandingOut,
    TransactionOut,
)
from services.loans.schemas.operations import CorrectionOut
from services.loans.schemas.products import (
    BorrowerOut,
    PreviewOut,
    ProductOut,
    ScheduleRowOut,
    ScheduleTotals,
)
from services.loans.schemas.reconciliation import DifferenceOut, ProceedsReconciliationOut
from services.loans.schemas.terms import LoanTermsModel
from services.loans.service.accounts import LoanView, TransactionView
from services.loans.service.borrowers import BorrowerView
from services.loans.service.business_date import CORRECTION_ACTIONS
from services.loans.service.reconciliation import ProceedsReconciliation
from shared.clock import as_utc


def decision_policy_out(policy: DecisionPolicy) -> DecisionPolicyOut:
    """The API view of one version of a product's decision policy."""
    return DecisionPolicyOut(
        product_id=policy.product_id,
        version=policy.version,
        rules=DecisionPolicyIn.model_validate_json(policy.rules),
        created_at=as_utc(policy.created_at),
        created_by=policy.created_by,
    )


def policy_decision_out(application: Application) -> PolicyDecisionOut | None:
    """What the decision policy decided for an application, if one did."""
    if application.policy_version is None or application.policy_outcome is None:
        return None
    return PolicyDecisionOut(
        version=application.policy_version,
        outcome=application.policy_outcome,
        rules=[RuleResultOut(**r) for r in json.loads(application.policy_rules or "[]")],
    )


def application_out(application: Application) -> ApplicationOut:
    """The API view of an application, with the actions it allows now."""
    score = None
    if application.score_id is not None and application.score is not None:
        reasons = [
            ReasonOut(
                code=r["code"],
                feature=r.get("feature"),
                points=None if r.get("points") is None else str(r["points"]),
                text=r.get("text"),
            )
            for r in json.loads(application.reasons or "[]")
        ]
        score = ScoreOut(
            id=application.score_id,
            score=application.score,
            grade=application.grade,
            pd=application.pd,
            decision_hint=application.decision_hint,
            model_version=application.model_version,
            reasons=reasons,
            scored_at=as_utc(application.scored_at) if application.scored_at else None,
            challenger_disagreement=application.challenger_disagreement,
        )
    decision = None
    if application.decided_by is not None and application.decided_at is not None:
        decision = DecisionOut(
            by=application.decided_by, at=as_utc(application.decided_at), note=application.decision_note
        )
    adverse = None
    if application.adverse_action_reasons is not None:
        adverse = [AdverseReason(**r) for r in json.loads(application.adverse_action_reasons)]
    return ApplicationOut(
        id=application.id,
        status=application.status,
        product_id=application.product_id,
        borrower_id=application.borrower_id,
        currency=application.currency,
        principal_minor=application.principal_minor,
        annual_interest_rate=application.annual_interest_rate,
        number_of_repayments=application.number_of_repayments,
        disbursement_date=application.disbursement_date,
        first_repayment_date=application.first_repayment_date,
        features=json.loads(application.features),
        feature_sources=json.loads(application.feature_sources) if application.feature_sources else None,
        marketplace_as_of=as_utc(application.marketplace_as_of) if application.marketplace_as_of else None,
        submitted_by=application.submitted_by,
        submitted_at=as_utc(application.submitted_at),
        score=score,
        score_attempts=application.score_attempts,
        last_score_error=application.last_score_error,
        decision=decision,
        adverse_action_reasons=adverse,
        loan_id=application.loan_id,
        policy_decision=policy_decision_out(application),
        allowed_actions=[a.value for a in allowed_application_actions(application.status)],
    )


def loan_out(view: LoanView) -> LoanOut:
    """The API view of a loan: replayed when the view carries a projection, else as stored."""
    loan, projection = view.loan, view.projection
    as_of: date | None
    if projection is not None:
        o = projection.outstanding
        outstanding = OutstandingOut(
            principal_minor=o.principal_minor,
            interest_minor=o.interest_minor,
            fee_minor=o.fee_minor,
            penalty_minor=o.penalty_minor,
            total_minor=o.total_minor,
        )
        credit, accrued = projection.credit_balance_minor, projection.interest_accrued_minor
        dpd, bucket, as_of = projection.days_past_due, projection.bucket.value, projection.as_of
    else:
        total = (
            loan.principal_outstanding_minor
            + loan.interest_outstanding_minor
            + loan.fee_outstanding_minor
            + loan.penalty_outstanding_minor
        )
        outstanding = OutstandingOut(
            principal_minor=loan.principal_outstanding_minor,
            interest_minor=loan.interest_outstanding_minor,
            fee_minor=loan.fee_outstanding_minor,
            penalty_minor=loan.penalty_outstanding_minor,
            total_minor=total,
        )
        credit, accrued = loan.credit_balance_minor, loan.interest_accrued_minor
        dpd, bucket, as_of = loan.days_past_due, loan.delinquency_bucket, loan.state_as_of
    return LoanOut(
        id=loan.id,
        application_id=loan.application_id,
        product_id=loan.product_id,
        borrower_id=loan.borrower_id,
        status=loan.status,
        currency=loan.currency,
        principal_minor=loan.principal_minor,
        annual_interest_rate=loan.annual_interest_rate,
        number_of_repayments=loan.number_of_repayments,
        disbursed_on=loan.disbursed_on,
        maturity_date=loan.maturity_date,
        disbursement_fees_minor=loan.disbursement_fees_minor,
        outstanding=outstanding,
        credit_balance_minor=credit,
        interest_accrued_minor=accrued,
        days_past_due=dpd,
        delinquency_bucket=bucket,
        as_of=as_of,
        last_cob_date=loan.last_cob_date,
        closed_on=loan.closed_on,
        written_off_on=loan.written_off_on,
        approved_by=loan.approved_by,
        allowed_actions=[a.value for a in allowed_loan_actions(loan.status)],
    )


def transaction_out(view: TransactionView) -> TransactionOut:
    """The API view of a transaction with its current allocation."""
    txn, allocation = view.transaction, view.allocation
    alloc = None
    if allocation is not None:
        alloc = AllocationOut(
            penalty_minor=allocation.penalty_minor,
            fee_minor=allocation.fee_minor,
            interest_minor=allocation.interest_minor,
            principal_minor=allocation.principal_minor,
            overpayment_minor=allocation.overpayment_minor,
            recovery_minor=allocation.recovery_minor,
            by_installment=json.loads(allocation.by_installment),
        )
    return TransactionOut(
        id=txn.id,
        loan_id=txn.loan_id,
        sequence=txn.sequence,
        kind=txn.kind,
        date=txn.on_date,
        amount_minor=txn.amount_minor,
        currency=txn.currency,
        external_id=txn.external_id,
        source=txn.source,
        reverses_id=txn.reverses_id,
        reversed_by_id=view.reversed_by_id,
        installment_number=txn.installment_number,
        note=txn.note,
        created_by=txn.created_by,
        allocation=alloc,
    )


def installment_out(row: Installment) -> InstallmentOut:
    """One stored installment with what is paid and outstanding on it, and its status."""
    due = row.total_minor + row.penalty_charged_minor
    paid = row.paid_principal_minor + row.paid_interest_minor + row.paid_fee_minor + row.paid_penalty_minor
    return InstallmentOut(
        number=row.number,
        from_date=row.from_date,
        due_date=row.due_date,
        principal_minor=row.principal_minor,
        interest_minor=row.interest_minor,
        fee_minor=row.fee_minor,
        penalty_minor=row.penalty_charged_minor,
        total_minor=due,
        balance_minor=row.balance_minor,
        paid_minor=paid,
        outstanding_minor=due - paid,
        settled_on=row.settled_on,
        overdue=row.overdue,
        status=installment_status(due_minor=due, paid_minor=paid, overdue=row.overdue).value,
    )


def schedule_out(loan: Loan, rows: list[Installment]) -> LoanScheduleOut:
    """A loan's stored schedule with its replayed paid/overdue state."""
    return LoanScheduleOut(
        loan_id=loan.id,
        currency=loan.currency,
        disbursement_fees_minor=loan.disbursement_fees_minor,
        as_of=loan.state_as_of,
        rows=[installment_out(r) for r in rows],
    )


def product_out(product: Product) -> ProductOut:
    """The API view of a product (its terms exactly as stored)."""
    return ProductOut(
        id=product.id,
        name=product.name,
        currency=product.currency,
        min_principal_minor=product.min_principal_minor,
        max_principal_minor=product.max_principal_minor,
        min_repayments=product.min_repayments,
        max_repayments=product.max_repayments,
        min_annual_interest_rate=product.min_annual_interest_rate,
        max_annual_interest_rate=product.max_annual_interest_rate,
        maker_checker=product.maker_checker,
        allow_sale_proceeds=product.allow_sale_proceeds,
        score_without_marketplace=product.score_without_marketplace,
        sale_proceeds_share_bps=product.sale_proceeds_share_bps,
        terms=LoanTermsModel.model_validate_json(product.terms),
        created_at=as_utc(product.created_at),
        created_by=product.created_by,
    )


def preview_out(schedule: Schedule) -> PreviewOut:
    """A computed schedule with its column sums."""
    totals = ScheduleTotals(
        principal_minor=schedule.total_principal_minor,
        interest_minor=schedule.total_interest_minor,
        fee_minor=schedule.total_fee_minor,
        penalty_minor=schedule.total_penalty_minor,
        total_minor=schedule.total_due_minor,
        disbursement_fees_minor=schedule.disbursement_fees_minor,
    )
    return PreviewOut(
        currency=schedule.terms.currency,
        maturity_date=schedule.maturity_date,
        level_installment_minor=schedule.level_installment_minor,
        rows=[ScheduleRowOut.model_validate(r, from_attributes=True) for r in schedule.rows],
        totals=totals,
    )


def borrower_out(view: BorrowerView) -> BorrowerOut:
    """A borrower, decrypted for an authorised reader."""
    return BorrowerOut.model_validate(view, from_attributes=True)


def correction_out(correction: BusinessDateCorrection) -> CorrectionOut:
    """A correction of the business date, with what it allows now."""
    return CorrectionOut(
        id=correction.id,
        status="confirmed" if correction.status == "confirmed" else "proposed",
        from_date=correction.from_date,
        to_date=correction.to_date,
        reason=correction.reason,
        proposed_by=correction.proposed_by,
        proposed_at=as_utc(correction.proposed_at),
        confirmed_by=correction.confirmed_by,
        confirmed_at=as_utc(correction.confirmed_at) if correction.confirmed_at else None,
        allowed_actions=list(CORRECTION_ACTIONS) if correction.status == "proposed" else [],
    )


def reconciliation_out(page: ProceedsReconciliation) -> ProceedsReconciliationOut:
    """A page of the proceeds reconciliation."""
    return ProceedsReconciliationOut(
        differences=[
            DifferenceOut(
                loan_id=d.loan_id,
                kind=d.kind,
                detail=d.detail,
                event_id=d.event_id,
                escrow_minor=d.escrow_minor,
                loans_minor=d.loans_minor,
            )
            for d in page.differences
        ],
        loans_checked=page.loans_checked,
        balanced=page.balanced,
        next_offset=page.next_offset,
    )
