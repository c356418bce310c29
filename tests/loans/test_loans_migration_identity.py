"""Revision 0007 (maker-checker by person): rows stored before it are backfilled with the
identity of the key that made them, so maker-checker keeps refusing that key afterwards."""

from __future__ import annotations

from alembic import command
from sqlalchemy import delete, select

from services.loans.definition import SERVICE
from services.loans.models import Application, BusinessDateCorrection
from services.loans.settings import LoansContext
from shared.auth import ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from shared.migrate import alembic_config, at_head
from tests.factories.loans import ApplicationPayloadFactory
from tests.loans.kit import LoansApi
from tests.support import issue_key


def _identities(ctx: LoansContext) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, str, str]]]:
    with ctx.db.unit_of_work(read_only=True) as session:
        applications = {
            a.id: (a.submitted_key_id, a.submitted_identity) for a in session.scalars(select(Application))
        }
        corrections = [
            (c.proposed_key_id, c.proposed_identity, c.confirmed_key_id or "", c.confirmed_identity or "")
            for c in session.scalars(select(BusinessDateCorrection))
        ]
    return applications, corrections


def test_downgrade_and_upgrade_backfill_identities_from_key_ids(api: LoansApi, ctx: LoansContext) -> None:
    api.keys["console"] = issue_key(ctx, Role.SERVICE, owner="console")
    product, borrower = api.product(), api.borrower()
    by_key = api.apply(product["id"], borrower["id"], as_="admin")
    by_person = api.call(
        "POST",
        "/v1/applications",
        as_="console",
        headers={ACTING_PERSON_HEADER: "alice", ACTING_ROLE_HEADER: "loan_officer"},
        json=ApplicationPayloadFactory(product_id=product["id"], borrower_id=borrower["id"]),
        expect=201,
    ).json()
    api.set_date("2025-03-31")
    api.correct_date("2025-03-03")
    before, corrections_before = _identities(ctx)
    assert before[by_person["id"]][1] == "person:alice"
    assert before[by_key["id"]][1] == f"key:{before[by_key['id']][0]}"

    url = ctx.settings.database_url
    # Migration 0013 (audit partition chains) refuses to downgrade over partition entries, which
    # the single chain before it cannot hold; this test is about identities, not the audit trail.
    audit_log = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        session.execute(delete(audit_log).where(audit_log.c.chain != 0))
    ctx.db.engine.dispose()
    try:
        command.downgrade(alembic_config(SERVICE, url), "0006")
    finally:
        command.upgrade(alembic_config(SERVICE, url), "head")
    with ctx.db.engine.connect() as conn:
        assert at_head(conn, SERVICE)

    after, corrections_after = _identities(ctx)
    assert after.keys() == before.keys() and len(after) == 2
    assert all(identity == f"key:{key_id}" for key_id, identity in after.values())
    assert after[by_person["id"]][1] != "person:alice"  # a backfill knows the key, not the person
    ((proposed_key, proposed, confirmed_key, confirmed),) = corrections_after
    assert (proposed, confirmed) == (f"key:{proposed_key}", f"key:{confirmed_key}")
    assert corrections_after == corrections_before
    # Maker-checker still refuses the key that submitted, and admits another.
    problem = api.post(f"/v1/applications/{by_key['id']}/approve", as_="admin", expect=403)
    assert "the key that submitted" in problem["detail"]
    api.post(f"/v1/applications/{by_key['id']}/approve", as_="manager", expect=201)
