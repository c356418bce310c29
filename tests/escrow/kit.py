"""A thin driver for the escrow API tests, and the invariants every test can assert."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from shared.platform import ServiceContext
from tests.factories.escrow import EscrowPayloadFactory
from tests.support import auth, count_rows


def assert_conserved(escrow: dict[str, Any]) -> None:
    """The escrow's money adds up: funded = released + refunded + fees + held."""
    out = escrow["released_minor"] + escrow["refunded_minor"] + escrow["fees_minor"] + escrow["held_minor"]
    assert escrow["funded_minor"] == out, escrow


@dataclass
class EscrowApi:
    """Calls the escrow app through a TestClient with a named key per call."""

    client: TestClient
    ctx: ServiceContext
    keys: dict[str, str]

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str = "market",
        expect: int = 200,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One request; asserts the status and returns the JSON body."""
        headers = auth(self.keys[key], **(headers or {}))
        response = self.client.request(method, path, json=body, headers=headers)
        assert response.status_code == expect, response.text
        result: dict[str, Any] = response.json()
        return result

    def get(self, path: str, *, key: str = "market", expect: int = 200) -> dict[str, Any]:
        """GET ``path``."""
        return self.call("GET", path, key=key, expect=expect)

    def post(self, path: str, body: Any = None, *, key: str = "market", expect: int = 200) -> dict[str, Any]:
        """POST ``path``."""
        return self.call("POST", path, body, key=key, expect=expect)

    def create(self, *, key: str = "market", expect: int = 201, **overrides: Any) -> dict[str, Any]:
        """Open an escrow from the factory's payload with ``overrides``."""
        return self.post("/v1/escrows", EscrowPayloadFactory(**overrides), key=key, expect=expect)

    def fund(self, escrow_id: str, *, key: str = "market") -> dict[str, Any]:
        """Start the payment and have the sandbox confirm it; return the escrow."""
        payment = self.post(f"/v1/escrows/{escrow_id}/fund", key=key, expect=202)
        result = self.post(f"/v1/sandbox/payments/{payment['id']}/confirm", key="admin")
        assert result["status"] == "processed", result
        return self.escrow(escrow_id, key=key)

    def lot(
        self,
        escrow_id: str,
        lot_ref: str,
        action: str,
        body: Any = None,
        *,
        key: str = "market",
        expect: int = 200,
    ) -> dict[str, Any]:
        """A lot action (ship, deliver, accept, reject, return-received, dispute, ...)."""
        return self.post(f"/v1/escrows/{escrow_id}/lots/{lot_ref}/{action}", body, key=key, expect=expect)

    def ship_and_deliver(self, escrow_id: str, lot_ref: str) -> dict[str, Any]:
        """Ship then deliver a lot."""
        self.lot(escrow_id, lot_ref, "ship", {"carrier": "G4S", "tracking": f"T-{lot_ref}"})
        return self.lot(escrow_id, lot_ref, "deliver")

    def escrow(self, escrow_id: str, *, key: str = "market") -> dict[str, Any]:
        """GET the escrow."""
        return self.get(f"/v1/escrows/{escrow_id}", key=key)

    def trial_balance(self) -> dict[str, Any]:
        """GET the trial balance (as the auditor)."""
        return self.get("/v1/ledger/trial-balance", key="auditor")

    def verify(self) -> dict[str, Any]:
        """GET the ledger verification (as the auditor)."""
        return self.get("/v1/ledger/verify", key="auditor")

    def balances(self) -> dict[str, int]:
        """Signed balance (debit +, credit -) of every account with one."""
        return {
            a["account"]: a["debit_minor"] - a["credit_minor"]
            for a in self.trial_balance()["accounts"]
            if a["debit_minor"] or a["credit_minor"]
        }

    def events(self, topic: str | None = None) -> list[dict[str, Any]]:
        """Outbox events (oldest first), optionally of one topic, with decoded payloads."""
        t = self.ctx.tables.outbox
        with self.ctx.db.unit_of_work(read_only=True) as session:
            query = select(t).order_by(t.c.created_at)
            if topic is not None:
                query = query.where(t.c.topic == topic)
            return [
                dict(row) | {"payload": json.loads(row["payload"])}
                for row in session.execute(query).mappings()
            ]

    def count(self, table: Any) -> int:
        """Rows in ``table``."""
        return count_rows(self.ctx, table)
