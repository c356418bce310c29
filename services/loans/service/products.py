"""Use cases for products, schedule previews and borrowers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from services.loans.api.schemas_products import BorrowerIn, ProductIn, TermsIn
from services.loans.domain import LoanTerms, Schedule, build_schedule
from services.loans.models import Borrower, Product
from services.loans.repository import catalog
from services.loans.service.common import domain_problem, new_id, record_change
from services.loans.terms_codec import dump_terms, load_terms, terms_from_dict
from shared.auth import Principal
from shared.errors import Conflict, NotFound, ValidationProblem
from shared.platform import ServiceContext

BORROWER_FIELDS = ("name", "national_id", "phone")


def terms_of(body: TermsIn) -> LoanTerms:
    """Validated domain terms from API input (422 naming the problem otherwise)."""
    try:
        return terms_from_dict(body.terms_dict())
    except ValueError as exc:
        raise domain_problem(exc, "terms") from None


def create_product(session: Session, ctx: ServiceContext, *, who: Principal, body: ProductIn) -> Product:
    """Store a new product after validating its terms with the domain."""
    terms = terms_of(body)
    if catalog.product_named(session, body.name) is not None:
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
        created_at=ctx.clock.now(),
        created_by=who.actor,
    )
    catalog.add(session, product)
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
        },
    )
    return product


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def require_product(session: Session, product_id: str) -> Product:
    """A product or 404."""
    product = catalog.get_product(session, product_id)
    if product is None:
        raise NotFound(f"product {product_id} not found")
    return product


def list_products(session: Session) -> Sequence[Product]:
    """Every product."""
    return catalog.list_products(session)


def preview_schedule(
    session: Session,
    *,
    terms: str | TermsIn,
    principal_minor: int,
    annual_interest_rate: Decimal,
    number_of_repayments: int,
    disbursement_date: date,
    first_repayment_date: date | None,
) -> Schedule:
    """Compute a schedule for a product (by id) or inline terms; stores nothing."""
    if isinstance(terms, str):
        product = catalog.get_product(session, terms)
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


def create_borrower(session: Session, ctx: ServiceContext, *, who: Principal, body: BorrowerIn) -> Borrower:
    """Store a borrower with personal data encrypted and a keyed hash of the national id."""
    lookup = national_id_hash(ctx, body.national_id)
    if catalog.borrower_by_national_id_hash(session, lookup) is not None:
        raise Conflict("a borrower with this national id already exists", current_state="exists")
    borrower_id = new_id()
    ring = ctx.keyring
    borrower = Borrower(
        id=borrower_id,
        type=body.type,
        name_enc=ring.encrypt(body.name, context="borrower.name"),
        national_id_enc=ring.encrypt(body.national_id.strip(), context="borrower.national_id"),
        national_id_hash=lookup,
        phone_enc=None if body.phone is None else ring.encrypt(body.phone, context="borrower.phone"),
        region=body.region,
        created_at=ctx.clock.now(),
        created_by=who.actor,
    )
    catalog.add(session, borrower)
    record_change(
        session,
        ctx,
        actor=who.actor,
        action="loan.borrower_registered",
        subject=f"borrower:{borrower_id}",
        payload={"borrower_id": borrower_id, "type": body.type, "region": body.region},
    )
    return borrower


def national_id_hash(ctx: ServiceContext, national_id: str) -> str:
    """The keyed look-up hash of a national id."""
    return ctx.keyring.lookup_hash(national_id, context="borrower.national_id")


def decrypt_borrower(ctx: ServiceContext, borrower: Borrower) -> dict[str, str | None]:
    """The plaintext personal fields of a borrower (for authorised readers only)."""
    ring = ctx.keyring
    return {
        "name": ring.decrypt(borrower.name_enc, context="borrower.name"),
        "national_id": ring.decrypt(borrower.national_id_enc, context="borrower.national_id"),
        "phone": None
        if borrower.phone_enc is None
        else ring.decrypt(borrower.phone_enc, context="borrower.phone"),
    }


def require_borrower(session: Session, borrower_id: str) -> Borrower:
    """A borrower or 404."""
    borrower = catalog.get_borrower(session, borrower_id)
    if borrower is None:
        raise NotFound(f"borrower {borrower_id} not found")
    return borrower
