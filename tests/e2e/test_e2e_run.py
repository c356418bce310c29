"""`make run`'s two steps from a fresh ./var: bootstrap, then every process up and ready,
then SIGTERM stops them all cleanly (``conftest.running_system`` bootstraps, starts and, at the
end, stops the system and asserts ``agrifin run`` exits 0). A second bootstrap reuses what the
first prepared.

While it runs, the system is used as a whole: loans scores an application through the scoring
process, a marketplace sale repays the loan through escrow, the worker and a signed webhook,
and the loan's outcome reaches scoring the same way (each receiver subscribed itself). The
system may already have told `agrifin demo`'s seasons (``test_e2e_demo`` shares it), so loans'
dates are its business date and scoring's count of loans with outcomes is compared with before."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.system import GROUP, RunningSystem

pytestmark = pytest.mark.xdist_group(GROUP)

ROLES = {"loan_officer", "credit_manager", "marketplace", "auditor", "admin"}
CREDENTIALS = ROLES | {"service:scoring", "service:escrow", "service:loans", "service:console"}
"""dev-keys.json: a key per role people use, and each service's own credential (no shared one)."""


def _call(method: str, port: int, path: str, key: str, body: object = None) -> dict[str, Any]:
    response = httpx.request(
        method,
        f"http://127.0.0.1:{port}{path}",
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code < 300, response.text
    result: dict[str, Any] = response.json()
    return result


def _business_date(ports: dict[str, int], keys: dict[str, str]) -> str:
    """Loans' business date (today on a fresh system; later once the demo told its seasons)."""
    return str(_call("GET", ports["loans"], "/v1/business-date", keys["auditor"])["date"])


def _loan_application_is_scored_across_processes(
    ports: dict[str, int], keys: dict[str, str], today: str
) -> str:
    """loans (one process) asks scoring (another) for a decision over real HTTP; returns the application."""
    example = _call("GET", ports["scoring"], "/v1/segments/farmer", keys["loan_officer"])["example"]
    product = _call(
        "POST",
        ports["loans"],
        "/v1/products",
        keys["credit_manager"],
        {
            "name": "maize inputs",
            "currency": "KES",
            "min_principal_minor": 100_000,
            "max_principal_minor": 50_000_000,
            "min_repayments": 1,
            "max_repayments": 24,
            "allow_sale_proceeds": True,
            "sale_proceeds_share_bps": 5_000,
        },
    )
    borrower = _call(
        "POST",
        ports["loans"],
        "/v1/borrowers",
        keys["loan_officer"],
        {
            "type": "farmer",
            "name": "Achieng Otieno",
            "national_id": "KE-30000001",
            "phone": "+254700000001",
            "region": "Kisumu",
        },
    )
    application = _call(
        "POST",
        ports["loans"],
        "/v1/applications",
        keys["loan_officer"],
        {
            "product_id": product["id"],
            "borrower_id": borrower["id"],
            "principal_minor": 1_200_000,
            "annual_interest_rate": "18",
            "number_of_repayments": 6,
            "disbursement_date": today,
            "features": example,
        },
    )
    assert application["status"] == "scored", application
    score = application["score"]
    stored = _call("GET", ports["scoring"], f"/v1/scores/{score['id']}", keys["auditor"])
    assert stored["subject_id"] == borrower["id"] and stored["segment"] == "farmer"
    return str(application["id"])


def _in_days(days: int) -> str:
    """An ISO-8601 UTC time ``days`` from now (escrow refuses deadlines years ahead)."""
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _wait_for(probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _sale_proceeds_repay_the_loan(
    ports: dict[str, int], keys: dict[str, str], application_id: str, today: str
) -> str:
    """The whole system: escrow sweeps a share of a release; the worker tells loans by webhook."""
    loan = _call(
        "POST",
        ports["loans"],
        f"/v1/applications/{application_id}/approve",
        keys["credit_manager"],
        {"note": "e2e"},
    )
    _call("POST", ports["loans"], f"/v1/loans/{loan['id']}/disburse", keys["credit_manager"], {"date": today})
    assignment = _call(
        "POST",
        ports["escrow"],
        "/v1/assignments",
        keys["admin"],
        {
            "seller_id": "farmer-seller",
            "lender_id": "agrifin-bank",
            "currency": "KES",
            "share_bps": 2_000,
            "cap_minor": 50_000,
            "loan_ref": loan["id"],
        },
    )
    escrow = _call(
        "POST",
        ports["escrow"],
        "/v1/escrows",
        keys["marketplace"],
        {
            "order_ref": "e2e-proceeds",
            "buyer_id": "buyer-9",
            "seller_id": "farmer-seller",
            "currency": "KES",
            "lots": [{"lot_ref": "A", "description": "maize, 10 bags", "amount_minor": 200_000}],
            "fee": {"bps": 250},
            "inspection_period_hours": 48,
            "funding_deadline": _in_days(60),
            "delivery_deadline": _in_days(90),
        },
    )
    path = f"/v1/escrows/{escrow['id']}"
    _call("POST", ports["escrow"], f"{path}/fund", keys["marketplace"])
    _wait_for(
        lambda: _call("GET", ports["escrow"], path, keys["marketplace"])["status"] == "funded",
        "the worker to confirm the sandbox payment",
    )
    inbound = f"http://127.0.0.1:{ports['loans']}/v1/inbound/escrow"
    _wait_for(
        lambda: any(
            s["url"] == inbound and s["active"]
            for s in _call("GET", ports["escrow"], "/v1/webhooks", keys["admin"])
        ),
        "loans to subscribe itself to escrow's events",
    )
    lot = f"{path}/lots/A"
    _call("POST", ports["escrow"], f"{lot}/ship", keys["marketplace"], {"carrier": "G4S", "tracking": "T1"})
    _call("POST", ports["escrow"], f"{lot}/deliver", keys["marketplace"])
    _call("POST", ports["escrow"], f"{lot}/accept", keys["marketplace"])

    def swept_repayment() -> list[dict[str, Any]]:
        items = _call("GET", ports["loans"], f"/v1/loans/{loan['id']}/transactions", keys["auditor"])
        rows = items["transactions"] if isinstance(items, dict) else items
        return [t for t in rows if t.get("source") == "sale_proceeds"]

    (repayment,) = _wait_for(swept_repayment, "the worker to deliver assignment.swept to loans")
    assert repayment["amount_minor"] == 39_000  # 20% of 200,000 less the 2.5% fee (195,000)
    return str(assignment["id"])


def _the_loans_outcome_reaches_scoring(
    ports: dict[str, int], keys: dict[str, str], application_id: str, assignment_id: str, today: str
) -> None:
    """Scoring's worker job subscribed it to loans' outcomes; the loan repaid in full is recorded.

    The assignment the admin made for the loan is closed with it, as loans closes those it
    registers itself (the proceeds reconciliation would flag one left active)."""
    inbound = f"http://127.0.0.1:{ports['scoring']}/v1/inbound/loans"
    _wait_for(
        lambda: any(
            s["url"] == inbound and s["active"] and s["topics"] == ["loan.outcome"]
            for s in _call("GET", ports["loans"], "/v1/webhooks", keys["admin"])
        ),
        "scoring to subscribe itself to loans' outcomes",
    )
    loan_id = _call("GET", ports["loans"], f"/v1/applications/{application_id}", keys["auditor"])["loan_id"]
    owed = _call("GET", ports["loans"], f"/v1/loans/{loan_id}", keys["auditor"])["outstanding"]["total_minor"]
    performance = f"/v1/monitoring/performance?segment=farmer&as_of={today}"
    before = _call("GET", ports["scoring"], performance, keys["auditor"])["loans"]
    repayment = {"amount_minor": owed, "date": today, "external_id": "e2e-harvest", "source": "borrower"}
    _call("POST", ports["loans"], f"/v1/loans/{loan_id}/repayments", keys["loan_officer"], repayment)
    assert _call("GET", ports["loans"], f"/v1/loans/{loan_id}", keys["auditor"])["status"] == "closed"
    closed = _call("POST", ports["escrow"], f"/v1/assignments/{assignment_id}/close", keys["admin"])
    assert closed["status"] == "closed"
    _wait_for(
        lambda: _call("GET", ports["scoring"], performance, keys["auditor"])["loans"] == before + 1,
        "the worker to deliver loan.outcome (repaid) to scoring",
    )


def _marketplace_key_is_bound_to_its_marketplace(ports: dict[str, int], keys: dict[str, str]) -> None:
    escrow = _call(
        "POST",
        ports["escrow"],
        "/v1/escrows",
        keys["marketplace"],
        {
            "order_ref": "e2e-1",
            "buyer_id": "buyer-1",
            "seller_id": "seller-1",
            "currency": "KES",
            "lots": [{"lot_ref": "A", "description": "maize", "amount_minor": 600_000}],
            "fee": {"bps": 250},
            "inspection_period_hours": 48,
            "funding_deadline": _in_days(60),
            "delivery_deadline": _in_days(90),
        },
    )
    assert escrow["marketplace"] == "dev-marketplace"


def _a_person_signs_in_to_the_console(port: int, person: dict[str, str]) -> None:
    """The console process serves its sign-in page and lets a development user in."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
        page = browser.get("/login")
        assert (
            page.status_code == 200 and ">Username</label>" in page.text and ">Sign in</button>" in page.text
        )
        token = page.text.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
        signed_in = browser.post("/login", data={**person, "login_csrf": token, "next": "/"})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
        home = browser.get("/")
        assert home.status_code == 200 and "Sign out" in home.text


def test_bootstrap_then_run_brings_every_service_to_ready(running_system: RunningSystem) -> None:
    system, ports = running_system, running_system.ports
    first, second = system.first, system.second
    dev_keys, dev_users = system.dev_keys, system.dev_users

    assert first.run.returncode == 0, first.run.stderr
    assert str(dev_keys) in first.run.stdout
    keys = first.keys
    assert set(keys) == CREDENTIALS
    assert stat.S_IMODE(dev_keys.stat().st_mode) == 0o600
    assert (system.var / "keys").is_dir()
    assert str(dev_users) in first.run.stdout
    assert stat.S_IMODE(dev_users.stat().st_mode) == 0o600
    people = first.people
    assert {"loan_officer", "credit_manager", "auditor", "admin"} <= set(people)
    assert all(set(entry) == {"username", "password"} for entry in people.values())

    assert second.run.returncode == 0, second.run.stderr
    assert second.keys == keys
    assert second.people == people  # the same people, the same passwords

    for port in ports.values():
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        anonymous = httpx.post(f"http://127.0.0.1:{port}/v1/webhooks", json={}, timeout=5)
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        authorised = httpx.get(
            f"http://127.0.0.1:{port}/v1/audit/verify",
            timeout=5,
            headers={"Authorization": f"Bearer {keys['auditor']}"},
        )
        assert authorised.status_code == 200 and authorised.json()["ok"] is True
    _a_person_signs_in_to_the_console(ports["console"], people["loan_officer"])
    today = _business_date(ports, keys)
    application_id = _loan_application_is_scored_across_processes(ports, keys, today)
    _marketplace_key_is_bound_to_its_marketplace(ports, keys)
    assignment_id = _sale_proceeds_repay_the_loan(ports, keys, application_id, today)
    _the_loans_outcome_reaches_scoring(ports, keys, application_id, assignment_id, today)
