"""Use cases for borrowers: register (personal data encrypted at rest), find, read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from services.loans.models import Borrower
from services.loans.repository import add
from services.loans.repository import borrowers as repo
from services.loans.schemas.products import BorrowerIn
from services.loans.settings import LoansContext
from shared.auth import Principal
from shared.changes import new_id, record_change
from shared.clock import as_utc
from shared.errors import Conflict, NotFound, ValidationProblem


@dataclass(frozen=True)
class BorrowerView:
    """A borrower with its personal data decrypted (for authorised readers only)."""

    id: str
    type: str
    name: str
    national_id: str
    phone: str | None
    region: str | None
    marketplace_party_id: str | None
    created_at: datetime


def create_borrower(session: Session, ctx: LoansContext, *, who: Principal, body: BorrowerIn) -> BorrowerView:
    """Store a borrower with personal data encrypted and a keyed hash of the national id."""
    lookup = national_id_hash(ctx, body.national_id)
    if repo.borrower_by_national_id_hash(session, lookup) is not None:
        raise Conflict("a borrower with this national id already exists", current_state="exists")
    party = body.marketplace_party_id
    if party is not None and repo.borrower_by_marketplace_party(session, party) is not None:
        raise Conflict(
            f"marketplace party {party!r} is already linked to another borrower", current_state="linked"
        )
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
        marketplace_party_id=party,
        created_at=ctx.clock.now(),
        created_by=who.actor,
    )
    add(session, borrower)
    record_change(
        session,
        ctx,
        actor=who.actor,
        action="loan.borrower_registered",
        subject=f"borrower:{borrower_id}",
        payload={
            "borrower_id": borrower_id,
            "type": body.type,
            "region": body.region,
            "marketplace_party_id": party,
        },
    )
    return decrypt_borrower(ctx, borrower)


def national_id_hash(ctx: LoansContext, national_id: str) -> str:
    """The keyed look-up hash of a national id."""
    return ctx.keyring.lookup_hash(national_id, context="borrower.national_id")


def decrypt_borrower(ctx: LoansContext, borrower: Borrower) -> BorrowerView:
    """A borrower with its personal fields decrypted (for authorised readers only)."""
    ring = ctx.keyring
    phone = None if borrower.phone_enc is None else ring.decrypt(borrower.phone_enc, context="borrower.phone")
    return BorrowerView(
        id=borrower.id,
        type=borrower.type,
        name=ring.decrypt(borrower.name_enc, context="borrower.name") or "",
        national_id=ring.decrypt(borrower.national_id_enc, context="borrower.national_id") or "",
        phone=phone,
        region=borrower.region,
        marketplace_party_id=borrower.marketplace_party_id,
        created_at=as_utc(borrower.created_at),
    )


def require_borrower(session: Session, borrower_id: str) -> Borrower:
    """A borrower or 404."""
    borrower = repo.get_borrower(session, borrower_id)
    if borrower is None:
        raise NotFound(f"borrower {borrower_id} not found")
    return borrower


def read_borrower(session: Session, ctx: LoansContext, borrower_id: str) -> BorrowerView:
    """One borrower, decrypted, or 404."""
    return decrypt_borrower(ctx, require_borrower(session, borrower_id))


def list_borrowers(
    session: Session,
    ctx: LoansContext,
    *,
    national_id: str | None,
    ids: Sequence[str] | None = None,
    limit: int,
    offset: int,
) -> list[BorrowerView]:
    """Borrowers, oldest first; ``national_id`` finds one by its keyed hash without decrypting the
    table; ``ids`` gives those borrowers in the order asked (an unknown id is left out)."""
    if national_id is not None and ids is not None:
        raise ValidationProblem([("query.ids", "give ids or national_id, not both")])
    if national_id is not None:
        found = repo.borrower_by_national_id_hash(session, national_id_hash(ctx, national_id))
        return [] if found is None else [decrypt_borrower(ctx, found)]
    if ids is not None:
        by_id = {b.id: b for b in repo.borrowers_by_ids(session, ids)}
        return [decrypt_borrower(ctx, by_id[i]) for i in ids if i in by_id]
    return [decrypt_borrower(ctx, b) for b in repo.list_borrowers(session, limit=limit, offset=offset)]
