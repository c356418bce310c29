"""`make run`'s two steps from a fresh ./var: bootstrap, then every process up and ready,
then SIGTERM stops them all cleanly. A second bootstrap reuses what the first prepared.

While it runs, the system is used as a whole: loans scores an application through the scoring
process, a marketplace sale repays the loan through escrow, the worker and a signed webhook,
and the loan's outcome reaches scoring the same way (each receiver subscribed itself)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.support import free_port

TODAY = datetime.now(UTC).date().isoformat()
ROLES = {"loan_officer", "credit_manager", "marketplace", "auditor", "admin"}
CREDENTIALS = ROLES | {"service:scoring", "service:escrow", "service:loans", "service:console"}
"""dev-keys.json: a key per role people use, and each service's own credential (no shared one)."""


def _agrifin(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


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


def _loan_application_is_scored_across_processes(ports: dict[str, int], keys: dict[str, str]) -> str:
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
            "disbursement_date": TODAY,
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


def _sale_proceeds_repay_the_loan(ports: dict[str, int], keys: dict[str, str], application_id: str) -> None:
    """The whole system: escrow sweeps a share of a release; the worker tells loans by webhook."""
    loan = _call(
        "POST",
        ports["loans"],
        f"/v1/applications/{application_id}/approve",
        keys["credit_manager"],
        {"note": "e2e"},
    )
    _call("POST", ports["loans"], f"/v1/loans/{loan['id']}/disburse", keys["credit_manager"], {"date": TODAY})
    _call(
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


def _the_loans_outcome_reaches_scoring(
    ports: dict[str, int], keys: dict[str, str], application_id: str
) -> None:
    """Scoring's worker job subscribed it to loans' outcomes; the loan repaid in full is recorded."""
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
    repayment = {"amount_minor": owed, "date": TODAY, "external_id": "e2e-harvest", "source": "borrower"}
    _call("POST", ports["loans"], f"/v1/loans/{loan_id}/repayments", keys["loan_officer"], repayment)
    assert _call("GET", ports["loans"], f"/v1/loans/{loan_id}", keys["auditor"])["status"] == "closed"
    performance = f"/v1/monitoring/performance?segment=farmer&as_of={TODAY}"
    _wait_for(
        lambda: _call("GET", ports["scoring"], performance, keys["auditor"])["loans"] == 1,
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


def test_bootstrap_then_run_brings_every_service_to_ready(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    ports = {name: free_port() for name in ("scoring", "escrow", "loans", "console")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update({"AGRIFIN_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(repo)})
    env.update({f"AGRIFIN_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["AGRIFIN_LOANS_SCORING_URL"] = f"http://127.0.0.1:{ports['scoring']}"
    env["AGRIFIN_LOANS_ESCROW_URL"] = f"http://127.0.0.1:{ports['escrow']}"
    env["AGRIFIN_SCORING_LOANS_URL"] = f"http://127.0.0.1:{ports['loans']}"
    for name in ("scoring", "escrow", "loans"):
        env[f"AGRIFIN_CONSOLE_{name.upper()}_URL"] = f"http://127.0.0.1:{ports[name]}"
    dev_keys = tmp_path / "var" / "dev-keys.json"

    first = _agrifin("bootstrap", "--dev-keys", str(dev_keys), env=env, cwd=repo)
    assert first.returncode == 0, first.stderr
    assert str(dev_keys) in first.stdout
    keys = json.loads(dev_keys.read_text())
    assert set(keys) == CREDENTIALS
    assert stat.S_IMODE(dev_keys.stat().st_mode) == 0o600
    assert (tmp_path / "var" / "keys").is_dir()
    dev_users = tmp_path / "var" / "dev-users.json"
    assert str(dev_users) in first.stdout
    assert stat.S_IMODE(dev_users.stat().st_mode) == 0o600
    people = json.loads(dev_users.read_text())
    assert {"loan_officer", "credit_manager", "auditor", "admin"} <= set(people)
    assert all(set(entry) == {"username", "password"} for entry in people.values())

    second = _agrifin("bootstrap", "--dev-keys", str(dev_keys), env=env, cwd=repo)
    assert second.returncode == 0, second.stderr
    assert json.loads(dev_keys.read_text()) == keys
    assert json.loads(dev_users.read_text()) == people  # the same people, the same passwords

    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"],
        env=env,
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        ready: dict[str, int] = {}
        while time.monotonic() < deadline and len(ready) < len(ports):
            for name, port in ports.items():
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                    if response.status_code == 200:
                        ready[name] = port
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        assert set(ready) == set(ports), f"not ready: {set(ports) - set(ready)}"
        for port in ports.values():
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
        application_id = _loan_application_is_scored_across_processes(ports, keys)
        _marketplace_key_is_bound_to_its_marketplace(ports, keys)
        _sale_proceeds_repay_the_loan(ports, keys, application_id)
        _the_loans_outcome_reaches_scoring(ports, keys, application_id)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
