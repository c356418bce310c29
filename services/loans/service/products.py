"""Use cases for products and schedule previews."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from services.loans.domain import LoanTerms, Schedule, build_schedule
from services.loans.models import Product
from services.loans.repository import add
from services.loans.repository import products as repo
from services.loans.schemas.products import ProductIn
from services.loans.schemas.terms import LoanTermsModel, dump_terms, load_terms
from services.loans.service.errors import domain_problem
from services.loans.settings import LoansContext
from shared.auth import Principal
from shared.changes import new_id, record_change
from shared.errors import Conflict, NotFound, ValidationProblem


def terms_of(body: LoanTermsModel) -> LoanTerms:
    """Validated domain terms from API input (422 naming the problem otherwise)."""
    try:
        return body.to_domain()
    except ValueError as exc:
        raise domain_problem(exc, "terms") from None


def create_product(session: Session, ctx: LoansContext, *, who: Principal, body: ProductIn) -> Product:
    """Store a new product after validating its terms with the domain."""
    terms = terms_of(body)
    if repo.product_named(session, body.name) is not None:
        raise Conflict(f"a product named {body.name!r} already exists", current_state="exists")
    product = Product(
        id=new_id(),
        name=body.name,
        currency=terms.currency,
        min_principal_minor=body.min_principal_minor,
        max_principal_minor=body.max_principal_minor,
        min_repayments=body.min_repayments,
        max_repayments=body.max_repayments,
        min_annual_interest_rate=_text(body.min_annual_interest_rate),
        max_annual_interest_rate=_text(body.max_annual_interest_rate),
        terms=dump_terms(terms),
        maker_checker=body.maker_checker,
        allow_sale_proceeds=body.allow_sale_proceeds,
        score_without_marketplace=body.score_without_marketplace,
        sale_proceeds_share_bps=body.sale_proceeds_share_bps,
        created_at=ctx.clock.now(),
        created_by=who.actor,
    )
    add(session, product)
    record_change(
        session,
        ctx,
        actor=who.actor,
        action="loan.product_created",
        subject=f"product:{product.id}",
        payload={
            "product_id": product.id,
            "name": product.name,
            "currency": product.currency,
            "maker_checker": product.maker_checker,
            "allow_sale_proceeds": product.allow_sale_proceeds,
            "sale_proceeds_share_bps": product.sale_proceeds_share_bps,
            "score_without_marketplace": product.score_without_marketplace,
        },
    )
    return product


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def require_product(session: Session, product_id: str) -> Product:
    """A product or 404."""
    product = repo.get_product(session, product_id)
    if product is None:
        raise NotFound(f"product {product_id} not found")
    return product


def list_products(session: Session) -> Sequence[Product]:
    """Every product."""
    return repo.list_products(session)


def preview_schedule(
    session: Session,
    *,
    terms: str | LoanTermsModel,
    principal_minor: int,
    annual_interest_rate: Decimal,
    number_of_repayments: int,
    disbursement_date: date,
    first_repayment_date: date | None,
) -> Schedule:
    """Compute a schedule for a product (by id) or inline terms; stores nothing."""
    if isinstance(terms, str):
        product = repo.get_product(session, terms)
        if product is None:
            raise ValidationProblem([("terms", f"unknown product {terms!r}")])
        loan_terms = load_terms(product.terms)
    else:
        loan_terms = terms_of(terms)
    try:
        return build_schedule(
            terms=loan_terms,
            principal_minor=principal_minor,
            annual_interest_rate=annual_interest_rate,
            number_of_repayments=number_of_repayments,
            disbursement_date=disbursement_date,
            first_repayment_date=first_repayment_date,
        )
    except ValueError as exc:
        raise domain_problem(exc) from None
