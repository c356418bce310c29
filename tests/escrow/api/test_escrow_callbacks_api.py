"""Signed provider callbacks: the only way money in or out is confirmed.

The tests sign callbacks the way the sandbox (or a real provider) does and POST them to the
public route ``/v1/providers/sandbox/callbacks``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from services.escrow.providers import callback_secret
from services.escrow.providers.base import CallbackType
from services.escrow.providers.sandbox import sandbox_callback
from shared.clock import ManualClock
from shared.money import Money
from shared.platform import ServiceContext
from shared.webhooks import SIGNATURE_HEADER, sign_payload
from tests.escrow.kit import EscrowApi, assert_conserved
from tests.support import assert_problem as is_problem

CALLBACKS = "/v1/providers/sandbox/callbacks"


def _payment(api: EscrowApi) -> tuple[str, dict[str, Any]]:
    eid = api.create()["id"]
    return eid, api.post(f"/v1/escrows/{eid}/fund", expect=202)


def _callback(
    ctx: ServiceContext,
    payment: dict[str, Any],
    *,
    minor: int | None = None,
    event_id: str | None = None,
    type: CallbackType = CallbackType.PAYMENT_CONFIRMED,
    currency: str = "KES",
) -> tuple[bytes, dict[str, str]]:
    amount = Money(payment["amount_minor"] if minor is None else minor, currency)
    return sandbox_callback(
        secret=callback_secret(ctx, "sandbox"),
        type=type,
        provider_ref=payment["provider_ref"],
        amount=amount,
        now=ctx.clock.now(),
        event_id=event_id,
    )


def _post(client: TestClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(CALLBACKS, content=body, headers=headers)


def test_a_signed_confirmation_funds_the_escrow_without_any_api_key(
    api: EscrowApi, ctx: ServiceContext
) -> None:
    eid, payment = _payment(api)
    body, headers = _callback(ctx, payment)
    response = _post(api.client, body, headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processed"
    escrow = api.escrow(eid)
    assert escrow["status"] == "funded" and escrow["payments"][0]["status"] == "confirmed"


def test_bad_missing_or_stale_signatures_are_401_and_change_nothing(
    api: EscrowApi, ctx: ServiceContext, clock: ManualClock
) -> None:
    eid, payment = _payment(api)
    body, headers = _callback(ctx, payment)
    now = int(clock.now().timestamp())
    forged = dict(headers) | {SIGNATURE_HEADER: sign_payload("not-the-secret", body, now)}
    assert "signature does not match" in is_problem(_post(api.client, body, forged), 401)["detail"]
    tampered = body.replace(b'"amount_minor":100000', b'"amount_minor":100001')
    is_problem(_post(api.client, tampered, headers), 401)
    is_problem(_post(api.client, body, {"Content-Type": "application/json"}), 401)
    clock.advance(timedelta(minutes=10))
    assert "tolerance" in is_problem(_post(api.client, body, headers), 401)["detail"]
    assert api.escrow(eid)["status"] == "created"
    assert api.count(ctx.tables.webhook_inbox) == 0


def test_a_signed_but_malformed_body_is_400(api: EscrowApi, ctx: ServiceContext, clock: ManualClock) -> None:
    body = json.dumps({"event_id": "e1", "type": "payment.confirmed"}).encode()
    signature = sign_payload(callback_secret(ctx, "sandbox"), body, int(clock.now().timestamp()))
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
    assert "malformed" in is_problem(_post(api.client, body, headers), 400)["detail"]
    is_problem(api.client.post("/v1/providers/nope/callbacks", content=body, headers=headers), 404)


def test_a_replayed_callback_is_ignored(api: EscrowApi, ctx: ServiceContext) -> None:
    eid, payment = _payment(api)
    body, headers = _callback(ctx, payment, event_id="evt-1")
    assert _post(api.client, body, headers).json()["status"] == "processed"
    replay = _post(api.client, body, headers)
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    # Another event id for the same payment is not a replay, but the payment is settled already.
    other, other_headers = _callback(ctx, payment, event_id="evt-2")
    assert _post(api.client, other, other_headers).json()["status"] == "ignored"
    escrow = api.escrow(eid)
    assert escrow["funded_minor"] == 100_000 and len(api.get(f"/v1/escrows/{eid}/entries")["entries"]) == 1
    assert len(api.events("escrow.funded")) == 1


def test_a_wrong_amount_does_not_fund_and_is_owed_back_to_the_buyer(
    api: EscrowApi, ctx: ServiceContext
) -> None:
    eid, payment = _payment(api)
    body, headers = _callback(ctx, payment, minor=99_999)
    assert _post(api.client, body, headers).json()["status"] == "processed"
    escrow = api.escrow(eid)
    assert escrow["status"] == "created" and escrow["funded_minor"] == 0
    assert escrow["payments"][0]["status"] == "mismatched"
    assert escrow["payments"][0]["received_minor"] == 99_999
    assert escrow["allowed_actions"] == ["cancel", "fund"]
    buyer = f"buyer_refund_payable:{escrow['buyer_id']}:KES"
    assert api.balances() == {"provider_clearing:sandbox:KES": 99_999, buyer: -99_999}
    assert_conserved(escrow)
    # Another currency is a mismatch too, booked in that currency.
    _, again = (eid, api.post(f"/v1/escrows/{eid}/fund", expect=202))
    body, headers = _callback(ctx, again, minor=100_000, currency="UGX")
    _post(api.client, body, headers)
    assert api.escrow(eid)["status"] == "created"
    assert {c["currency"] for c in api.trial_balance()["currencies"]} == {"KES", "UGX"}
    assert api.verify()["ok"]


def test_a_failed_payment_leaves_the_escrow_waiting(api: EscrowApi, ctx: ServiceContext) -> None:
    eid, payment = _payment(api)
    body, headers = _callback(ctx, payment, type=CallbackType.PAYMENT_FAILED)
    assert _post(api.client, body, headers).json()["status"] == "processed"
    escrow = api.escrow(eid)
    assert escrow["status"] == "created" and escrow["payments"][0]["status"] == "failed"
    retry = api.post(f"/v1/escrows/{eid}/fund", expect=202)
    assert retry["id"] != payment["id"] and retry["status"] == "pending"


def test_a_payment_arriving_after_expiry_is_refunded_not_applied(
    api: EscrowApi, ctx: ServiceContext, clock: ManualClock
) -> None:
    from services.escrow.jobs import expire_unfunded

    eid, payment = _payment(api)
    clock.advance(timedelta(days=2))
    assert expire_unfunded(ctx) == 1
    body, headers = _callback(ctx, payment)
    assert _post(api.client, body, headers).json()["status"] == "processed"
    escrow = api.escrow(eid)
    assert escrow["status"] == "expired" and escrow["payments"][0]["status"] == "refunded"
    assert escrow["funded_minor"] == 0 and api.verify()["ok"]
    assert api.events("payment.refunded")[0]["owner"] == "shop-1"


def test_unknown_payment_reference_is_404(api: EscrowApi, ctx: ServiceContext) -> None:
    body, headers = _callback(ctx, {"amount_minor": 5, "provider_ref": "sbx_pay_unknown"})
    is_problem(_post(api.client, body, headers), 404)
    assert api.count(ctx.tables.webhook_inbox) == 0
