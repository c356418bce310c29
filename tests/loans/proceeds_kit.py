"""Loans and a real escrow app in-process, for the proceeds tests (register, close, refund,
reconciliation): loans' escrow client is an ``EscrowClient`` on a TestClient of the escrow
app with loans' own credential (``service:loans``), and escrow's sweeps reach loans' inbound
route as signed webhooks through the platform's delivery (``deliver_due``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.escrow.app import create_app as create_escrow_app
from services.loans.app import create_app as create_loans_app
from services.loans.models import EscrowInstruction
from services.loans.service.escrow_delivery import InstructionReport, send_due_instructions
from services.loans.settings import LoansContext, LoansSettings
from shared.auth import Role
from shared.clients.escrow import EscrowClient
from shared.clock import ManualClock
from shared.platform import ServiceContext
from shared.webhook_delivery import deliver_due, dispatch_events
from shared.webhooks import create_subscription
from tests.escrow.kit import EscrowApi
from tests.loans.kit import FakeScoring, LoansApi
from tests.support import issue_key

LOANS_INBOUND = "http://loans.test/v1/inbound/escrow"
SELLER = "seller-1"
"""The marketplace party the borrower sells as (escrow's default seller in the factories)."""


@dataclass
class ProceedsWorld:
    """Escrow and loans side by side, with the drivers and clients the tests need."""

    escrow: EscrowApi
    loans: LoansApi
    escrow_ctx: ServiceContext
    loans_ctx: LoansContext
    loans_client: TestClient
    escrow_http: TestClient
    escrow_client: EscrowClient
    loans_key_at_escrow: str
    clock: ManualClock

    def client_over(self, transport: httpx.BaseTransport) -> EscrowClient:
        """An EscrowClient with loans' credential over ``transport`` (one attempt per call)."""
        http = httpx.Client(base_url="http://escrow.test", transport=transport)
        return EscrowClient(http, api_key=self.loans_key_at_escrow, attempts=1, max_backoff=0.01)

    def send_instructions(self, escrow: EscrowClient | None = None) -> InstructionReport:
        """One run of the worker's ``loans.escrow.instructions``."""
        return send_due_instructions(self.loans_ctx, escrow or self.escrow_client)

    def instructions(self, loan_id: str | None = None) -> list[EscrowInstruction]:
        """Loans' instructions to escrow, oldest first."""
        with self.loans_ctx.db.unit_of_work(read_only=True) as session:
            query = select(EscrowInstruction).order_by(EscrowInstruction.id)
            if loan_id is not None:
                query = query.where(EscrowInstruction.loan_id == loan_id)
            rows = list(session.scalars(query).all())
            session.expunge_all()
            return rows

    def deliver_events(self) -> int:
        """Escrow's worker: fan out its outbox and deliver the due webhooks to loans."""
        dispatch_events(self.escrow_ctx.db, self.escrow_ctx.tables, now=self.clock.now())
        network = httpx.Client(transport=httpx.MockTransport(self._forward_to_loans))
        return deliver_due(
            self.escrow_ctx.db, self.escrow_ctx.tables, self.escrow_ctx.keyring, network, now=self.clock.now()
        )

    def _forward_to_loans(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == LOANS_INBOUND
        answer = self.loans_client.post(
            request.url.path,
            content=request.content,
            headers={k: v for k, v in request.headers.items() if k != "host"},
        )
        return httpx.Response(answer.status_code, content=answer.content)

    def linked_product(self, share_bps: int = 5_000, **overrides: Any) -> dict[str, Any]:
        """A product whose loans assign ``share_bps`` of the borrower's releases to the lender."""
        return self.loans.product(allow_sale_proceeds=True, sale_proceeds_share_bps=share_bps, **overrides)

    def disbursed_loan(
        self,
        product_id: str,
        *,
        party: str | None = SELLER,
        idempotency_key: str | None = None,
        on: str = "2026-03-02",
        **application: Any,
    ) -> dict[str, Any]:
        """A borrower (linked to ``party``) → application → approval → disbursement on ``on``."""
        borrower = self.loans.borrower(marketplace_party_id=party)
        applied = self.loans.apply(product_id, borrower["id"], disbursement_date=on, **application)
        loan = self.loans.post(f"/v1/applications/{applied['id']}/approve", as_="manager", expect=201)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        answer = self.loans.call(
            "POST",
            f"/v1/loans/{loan['id']}/disburse",
            as_="manager",
            expect=200,
            json={"date": on},
            headers=headers,
        )
        return cast(dict[str, Any], answer.json())

    def owed(self, loan_id: str) -> int:
        """Everything the loan's schedule asks for (principal, interest, fees)."""
        return sum(
            r["principal_minor"] + r["interest_minor"] + r["fee_minor"] for r in self.loans.schedule(loan_id)
        )

    def release_lot(self, lot_ref: str = "A") -> dict[str, Any]:
        """A funded escrow of the seller whose lot is shipped, delivered and accepted (a release)."""
        order = self.escrow.create()
        self.escrow.fund(order["id"])
        self.escrow.ship_and_deliver(order["id"], lot_ref)
        return self.escrow.lot(order["id"], lot_ref, "accept")


def build_world(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], clock: ManualClock
) -> ProceedsWorld:
    """Escrow and loans on fresh databases, loans subscribed to ``assignment.swept``."""
    escrow_ctx, loans_ctx = make_ctx("escrow"), cast(LoansContext, make_ctx("loans"))
    escrow_keys = {
        name: issue_key(escrow_ctx, role, owner)
        for name, role, owner in (
            ("market", Role.MARKETPLACE, "shop-1"),
            ("admin", Role.ADMIN, None),
            ("auditor", Role.AUDITOR, None),
            ("loans", Role.SERVICE, "loans"),
        )
    }
    loans_keys = {
        name: issue_key(loans_ctx, role)
        for name, role in (
            ("officer", Role.LOAN_OFFICER),
            ("manager", Role.CREDIT_MANAGER),
            ("manager2", Role.CREDIT_MANAGER),
            ("admin", Role.ADMIN),
            ("admin2", Role.ADMIN),
            ("auditor", Role.AUDITOR),
        )
    }
    with escrow_ctx.db.unit_of_work() as session:
        _, secret = create_subscription(
            session,
            escrow_ctx.tables,
            escrow_ctx.keyring,
            url=LOANS_INBOUND,
            topics=["assignment.swept"],
            owner=None,
            now=clock.now(),
        )
    assert isinstance(loans_ctx.settings, LoansSettings)
    loans_ctx.settings = loans_ctx.settings.model_copy(update={"escrow_webhook_secret": secret})
    escrow_http = client_for(create_escrow_app(escrow_ctx))
    escrow_client = EscrowClient(escrow_http, api_key=escrow_keys["loans"])
    loans_client = client_for(
        create_loans_app(loans_ctx, scoring_client=FakeScoring().client(), escrow_client=escrow_client)
    )
    return ProceedsWorld(
        escrow=EscrowApi(escrow_http, escrow_ctx, escrow_keys),
        loans=LoansApi(loans_client, loans_keys),
        escrow_ctx=escrow_ctx,
        loans_ctx=loans_ctx,
        loans_client=loans_client,
        escrow_http=escrow_http,
        escrow_client=escrow_client,
        loans_key_at_escrow=escrow_keys["loans"],
        clock=clock,
    )
