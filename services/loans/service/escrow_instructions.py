"""What loans must tell escrow about a loan's assignment of proceeds, written as instructions
in the transaction of the change that calls for them (an outbox; ``escrow_delivery`` sends
them with the worker, never a request):

* ``register`` when a loan whose product allows sale proceeds (with a share,
  ``sale_proceeds_share_bps``) is disbursed to a borrower linked to a marketplace party:
  seller = the borrower's party, lender = ``AGRIFIN_LOANS_LENDER_PARTY_ID``, share = the
  product's, cap = what the loan owes at disbursement (principal, interest and fees of the
  stored schedule; disbursement fees are withheld at disbursement, so not owed), loan_ref =
  the loan id;
* ``close`` when the loan ends (closed by repayment, overpaid or written off), once per
  loan and only when a register was written and did not fail;
* ``refund`` of the part of a sweep the loan did not owe (``loan.sweep_refused``), to the
  seller through escrow, reference ``sweep-refused:<event id>``.

Idempotency-Keys at escrow (loans' one credential sends every loan's instructions, so each
key starts with the loan id — two callers' disbursement keys may be equal):

* register: ``loans-disbursement-<loan id>-<the disburse request's Idempotency-Key>``
  (a key too long for escrow is replaced by its SHA-256), or
  ``loans-disbursement-<loan id>`` for a disbursement without one (the decision policy's);
* close: ``loans-close-<loan id>``; refund: ``loans-refund-<loan id>-<event id>``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session

from services.loans.domain.reconciliation import refund_reference
from services.loans.models import EscrowInstruction, Loan
from services.loans.repository import add
from services.loans.repository import borrowers as borrowers_repo
from services.loans.repository import escrow_instructions as repo
from services.loans.repository import products as products_repo
from services.loans.settings import LoansContext
from shared.idempotency import MAX_KEY_LENGTH

REGISTER, CLOSE, REFUND = "register", "close", "refund"
PENDING, DONE, FAILED = "pending", "done", "failed"


def escrow_key(prefix: str, suffix: str | None = None) -> str:
    """``prefix-suffix``, or ``prefix-sha256-<hex>`` of the suffix when too long for escrow."""
    if suffix is None:
        return prefix
    key = f"{prefix}-{suffix}"
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return f"{prefix}-sha256-{hashlib.sha256(suffix.encode()).hexdigest()}"


def disbursement_key(loan_id: str, request_key: str | None) -> str:
    """The register's Idempotency-Key at escrow, from the disbursement's (see the module)."""
    return escrow_key(f"loans-disbursement-{loan_id}", request_key)


def payload_of(row: EscrowInstruction) -> dict[str, Any]:
    """An instruction's payload."""
    value: dict[str, Any] = json.loads(row.payload)
    return value


def result_of(row: EscrowInstruction) -> dict[str, Any]:
    """Escrow's answer to an instruction (empty until it is done)."""
    value: dict[str, Any] = json.loads(row.result) if row.result else {}
    return value


def _instruct(
    session: Session, ctx: LoansContext, *, loan_id: str, kind: str, payload: dict[str, Any], key: str
) -> EscrowInstruction:
    now = ctx.clock.now()
    row = EscrowInstruction(
        loan_id=loan_id,
        kind=kind,
        payload=json.dumps(payload, sort_keys=True),
        idempotency_key=key,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        last_error=None,
        result=None,
        created_at=now,
        done_at=None,
    )
    add(session, row)
    return row


def register_on_disbursement(
    session: Session, ctx: LoansContext, *, loan: Loan, owed_minor: int, request_key: str | None
) -> EscrowInstruction | None:
    """Instruct escrow to register the just-disbursed loan's assignment, when it has one;
    ``owed_minor`` (its cap) is everything the schedule just built asks for."""
    product = products_repo.get_product(session, loan.product_id)
    if product is None or not product.allow_sale_proceeds or product.sale_proceeds_share_bps is None:
        return None
    borrower = borrowers_repo.get_borrower(session, loan.borrower_id)
    if borrower is None or borrower.marketplace_party_id is None:
        return None
    payload = {
        "seller_id": borrower.marketplace_party_id,
        "lender_id": ctx.settings.lender_party_id,
        "currency": loan.currency,
        "share_bps": product.sale_proceeds_share_bps,
        "cap_minor": owed_minor,
        "loan_ref": loan.id,
    }
    return _instruct(
        session,
        ctx,
        loan_id=loan.id,
        kind=REGISTER,
        payload=payload,
        key=disbursement_key(loan.id, request_key),
    )


def close_on_loan_end(session: Session, ctx: LoansContext, *, loan: Loan) -> EscrowInstruction | None:
    """Instruct escrow to close the loan's assignment (the loan ended), once per loan."""
    instructions = repo.instructions_of(session, loan.id)
    registered = [i for i in instructions if i.kind == REGISTER and i.status != FAILED]
    if not registered or any(i.kind == CLOSE for i in instructions):
        return None
    return _instruct(
        session,
        ctx,
        loan_id=loan.id,
        kind=CLOSE,
        payload={"loan_status": loan.status},
        key=f"loans-close-{loan.id}",
    )


def refund_refused_sweep(
    session: Session,
    ctx: LoansContext,
    *,
    loan_id: str,
    event_id: str,
    assignment_id: str,
    currency: str,
    refused_minor: int,
) -> EscrowInstruction:
    """Instruct escrow to give the seller back the part of a sweep the loan did not owe."""
    payload = {
        "assignment_id": assignment_id,
        "event_id": event_id,
        "currency": currency,
        "amount_minor": refused_minor,
        "reference": refund_reference(event_id),
        "reason": f"loan {loan_id} did not owe this part of the sweep (refused by loans)",
    }
    return _instruct(
        session,
        ctx,
        loan_id=loan_id,
        kind=REFUND,
        payload=payload,
        key=escrow_key(f"loans-refund-{loan_id}", event_id),
    )
