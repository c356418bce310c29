"""Routes: products, schedule previews and borrowers."""

from __future__ import annotations

from fastapi import Query

from services.loans.api.deps import BorrowerWriter, LoansContextDep, ProductWriter, Quoter, Reader
from services.loans.presenters import borrower_out, decision_policy_out, preview_out, product_out
from services.loans.schemas.decision_policy import DecisionPolicyIn, DecisionPolicyOut
from services.loans.schemas.products import (
    ID_MAX_LENGTH,
    MAX_BORROWER_IDS,
    BorrowerIn,
    BorrowerOut,
    PreviewIn,
    PreviewOut,
    ProductIn,
    ProductOut,
    parse_id_list,
)
from services.loans.service import borrowers
from services.loans.service import decision_policy as policies
from services.loans.service import products as service
from shared.api import SessionDep, service_router

router = service_router(prefix="/v1", tags=["products"])


@router.post("/products", status_code=201, response_model=ProductOut)
def create_product(
    body: ProductIn, ctx: LoansContextDep, session: SessionDep, who: ProductWriter
) -> ProductOut:
    """Create a loan product."""
    return product_out(service.create_product(session, ctx, who=who, body=body))


@router.get("/products", response_model=list[ProductOut])
def list_products(session: SessionDep, _: Reader) -> list[ProductOut]:
    """Every loan product."""
    return [product_out(p) for p in service.list_products(session)]


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: str, session: SessionDep, _: Reader) -> ProductOut:
    """One loan product."""
    return product_out(service.require_product(session, product_id))


@router.post("/products/{product_id}/decision-policy", status_code=201, response_model=DecisionPolicyOut)
def set_decision_policy(
    product_id: str, body: DecisionPolicyIn, ctx: LoansContextDep, session: SessionDep, who: ProductWriter
) -> DecisionPolicyOut:
    """Store a new version of the product's decision policy (applies to applications scored from now on)."""
    return decision_policy_out(policies.set_policy(session, ctx, who=who, product_id=product_id, body=body))


@router.get("/products/{product_id}/decision-policy", response_model=DecisionPolicyOut)
def get_decision_policy(product_id: str, session: SessionDep, _: Reader) -> DecisionPolicyOut:
    """The product's current decision policy (404 when it has none: every application waits for a person)."""
    return decision_policy_out(policies.current_policy(session, product_id))


@router.get("/products/{product_id}/decision-policy/versions", response_model=list[DecisionPolicyOut])
def list_decision_policy_versions(product_id: str, session: SessionDep, _: Reader) -> list[DecisionPolicyOut]:
    """Every version of the product's decision policy, newest first."""
    return [decision_policy_out(p) for p in policies.policy_history(session, product_id)]


@router.post("/schedules/preview", response_model=PreviewOut)
def preview_schedule(body: PreviewIn, session: SessionDep, _: Quoter) -> PreviewOut:
    """Compute a repayment schedule for a product or inline terms; nothing is stored."""
    return preview_out(
        service.preview_schedule(
            session,
            terms=body.terms,
            principal_minor=body.principal_minor,
            annual_interest_rate=body.annual_interest_rate,
            number_of_repayments=body.number_of_repayments,
            disbursement_date=body.disbursement_date,
            first_repayment_date=body.first_repayment_date,
        )
    )


@router.post("/borrowers", status_code=201, response_model=BorrowerOut)
def create_borrower(
    body: BorrowerIn, ctx: LoansContextDep, session: SessionDep, who: BorrowerWriter
) -> BorrowerOut:
    """Register a farmer or enterprise (personal data encrypted at rest)."""
    return borrower_out(borrowers.create_borrower(session, ctx, who=who, body=body))


@router.get("/borrowers", response_model=list[BorrowerOut])
def list_borrowers(
    ctx: LoansContextDep,
    session: SessionDep,
    _: Reader,
    national_id: str | None = Query(default=None, min_length=1, max_length=64),
    ids: str | None = Query(
        default=None,
        min_length=1,
        max_length=MAX_BORROWER_IDS * (ID_MAX_LENGTH + 1),
        description=f"Comma-separated borrower ids (at most {MAX_BORROWER_IDS}): those borrowers, "
        "in the order given, unknown ids left out; limit and offset do not apply.",
    ),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[BorrowerOut]:
    """Borrowers; ``national_id`` finds one by its keyed hash, ``ids`` fetches a page's borrowers at once."""
    found = borrowers.list_borrowers(
        session,
        ctx,
        national_id=national_id,
        ids=None if ids is None else parse_id_list(ids),
        limit=limit,
        offset=offset,
    )
    return [borrower_out(b) for b in found]


@router.get("/borrowers/{borrower_id}", response_model=BorrowerOut)
def get_borrower(borrower_id: str, ctx: LoansContextDep, session: SessionDep, _: Reader) -> BorrowerOut:
    """One borrower."""
    return borrower_out(borrowers.read_borrower(session, ctx, borrower_id))
