"""Routes: products, schedule previews and borrowers."""

from __future__ import annotations

from fastapi import Query

from services.loans.api.deps import BorrowerWriter, ProductWriter, Quoter, Reader
from services.loans.api.schemas_products import (
    BorrowerIn,
    BorrowerOut,
    PreviewIn,
    PreviewOut,
    ProductIn,
    ProductOut,
    ScheduleRowOut,
    ScheduleTotals,
)
from services.loans.models import Borrower, Product
from services.loans.repository import catalog
from services.loans.service import products as service
from services.loans.terms_codec import load_terms, terms_to_dict
from shared.api import ContextDep, SessionDep, service_router
from shared.clock import as_utc
from shared.platform import ServiceContext

router = service_router(prefix="/v1", tags=["products"])


def product_out(product: Product) -> ProductOut:
    """The API view of a product."""
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
        terms=terms_to_dict(load_terms(product.terms)),
        created_at=as_utc(product.created_at),
        created_by=product.created_by,
    )


@router.post("/products", status_code=201, response_model=ProductOut)
def create_product(body: ProductIn, ctx: ContextDep, session: SessionDep, who: ProductWriter) -> ProductOut:
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


@router.post("/schedules/preview", response_model=PreviewOut)
def preview_schedule(body: PreviewIn, session: SessionDep, _: Quoter) -> PreviewOut:
    """Compute a repayment schedule for a product or inline terms; nothing is stored."""
    schedule = service.preview_schedule(
        session,
        terms=body.terms,
        principal_minor=body.principal_minor,
        annual_interest_rate=body.annual_interest_rate,
        number_of_repayments=body.number_of_repayments,
        disbursement_date=body.disbursement_date,
        first_repayment_date=body.first_repayment_date,
    )
    rows = [ScheduleRowOut.model_validate(r, from_attributes=True) for r in schedule.rows]
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
        rows=rows,
        totals=totals,
    )


def borrower_out(ctx: ServiceContext, borrower: Borrower) -> BorrowerOut:
    """A borrower with its personal data decrypted."""
    plain = service.decrypt_borrower(ctx, borrower)
    return BorrowerOut(
        id=borrower.id,
        type=borrower.type,
        name=plain["name"] or "",
        national_id=plain["national_id"] or "",
        phone=plain["phone"],
        region=borrower.region,
        created_at=as_utc(borrower.created_at),
    )


@router.post("/borrowers", status_code=201, response_model=BorrowerOut)
def create_borrower(
    body: BorrowerIn, ctx: ContextDep, session: SessionDep, who: BorrowerWriter
) -> BorrowerOut:
    """Register a farmer or enterprise (personal data encrypted at rest)."""
    return borrower_out(ctx, service.create_borrower(session, ctx, who=who, body=body))


@router.get("/borrowers", response_model=list[BorrowerOut])
def list_borrowers(
    ctx: ContextDep,
    session: SessionDep,
    _: Reader,
    national_id: str | None = Query(default=None, min_length=1, max_length=64),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[BorrowerOut]:
    """Borrowers; ``national_id`` finds one by its keyed hash without decrypting the table."""
    if national_id is not None:
        found = catalog.borrower_by_national_id_hash(session, service.national_id_hash(ctx, national_id))
        return [] if found is None else [borrower_out(ctx, found)]
    return [borrower_out(ctx, b) for b in catalog.list_borrowers(session, limit=limit, offset=offset)]


@router.get("/borrowers/{borrower_id}", response_model=BorrowerOut)
def get_borrower(borrower_id: str, ctx: ContextDep, session: SessionDep, _: Reader) -> BorrowerOut:
    """One borrower."""
    return borrower_out(ctx, service.require_borrower(session, borrower_id))
