"""Loan pages: the list, a loan's schedule, transactions and arrears, Disburse and Post
repayment through the forms (attributed to the person in loans' audit, idempotent on a double
submit, refused values beside their fields), and the role gates on both."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from services.console.domain.formatting import money
from services.console.domain.masking import mask_name
from services.console.service.loans import FormInvalid, parse_amount
from services.scoring.repository.specs import load_segment_spec
from shared.auth import Role
from tests.console.kit import World, csrf, post_form
from tests.factories.loans import ApplicationPayloadFactory, BorrowerPayloadFactory, ProductPayloadFactory

FARMER = load_segment_spec("farmer")
KEY_FIELD = re.compile(r'name="idempotency_key" value="([^"]+)"')
DISBURSED_ON = "2026-01-15"
"""The applications' disbursement date; the world's business date is 2026-03-02 (its clock), so
the first installment (due 2026-02-15) is 15 days past due."""


def _post(world: World, path: str, body: Any, *, role: Role, key: str) -> Any:
    return world.api("loans", "POST", path, role=role, json=body, headers={"Idempotency-Key": key})


def book_loan(world: World, *, name: str = "Wanjiru Kamau", disburse: bool = True) -> dict[str, Any]:
    """A loan made through loans' API: product, borrower, an application scored by the real
    scoring, approved by another person (a credit manager's key), disbursed on DISBURSED_ON."""
    product = _post(world, "/v1/products", ProductPayloadFactory(), role=Role.ADMIN, key=f"p-{name}")
    borrower = _post(
        world, "/v1/borrowers", BorrowerPayloadFactory(name=name), role=Role.LOAN_OFFICER, key=f"b-{name}"
    )
    body = ApplicationPayloadFactory(
        product_id=product["id"],
        borrower_id=borrower["id"],
        disbursement_date=DISBURSED_ON,
        features=dict(FARMER.example),
    )
    application = _post(world, "/v1/applications", body, role=Role.LOAN_OFFICER, key=f"a-{name}")
    assert application["status"] == "scored", application
    approve = f"/v1/applications/{application['id']}/approve"
    loan = _post(world, approve, None, role=Role.CREDIT_MANAGER, key=f"ap-{name}")
    if disburse:
        path = f"/v1/loans/{loan['id']}/disburse"
        loan = _post(world, path, {"date": DISBURSED_ON}, role=Role.CREDIT_MANAGER, key=f"d-{name}")
    return {"loan": loan, "borrower": borrower, "product": product, "application": application}


def _loans_get(world: World, path: str, **params: Any) -> Any:
    return world.api("loans", "GET", path, params=params or None)


def _audit(world: World, loan_id: str, action: str) -> list[dict[str, Any]]:
    entries = _loans_get(world, "/v1/audit/entries", subject=f"loan:{loan_id}")["entries"]
    return [e for e in entries if e["action"] == action]


def _repay_form(client: Any, loan_id: str, **values: str) -> dict[str, str]:
    page = client.get(f"/loans/{loan_id}")
    keys = KEY_FIELD.findall(page.text)
    assert keys, "the page has no form with an idempotency key"
    return {"csrf_token": csrf(page), "idempotency_key": keys[-1], **values}


def test_a_credit_manager_disburses_and_the_page_shows_schedule_transactions_and_arrears(
    world: World,
) -> None:
    booked = book_loan(world, disburse=False)
    loan_id = booked["loan"]["id"]
    client = world.signed_in("carol", Role.CREDIT_MANAGER)
    page = client.get(f"/loans/{loan_id}")
    assert page.status_code == 200
    assert ">Disburse</button>" in page.text
    assert "The schedule is fixed when the loan is disbursed." in page.text
    answer = post_form(
        client, f"/loans/{loan_id}/disburse", {"disburse_date": DISBURSED_ON}, from_page=f"/loans/{loan_id}"
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/loans/{loan_id}?done=disbursed"
    (disbursed,) = _audit(world, loan_id, "loan.disbursed")
    assert disbursed["actor"].startswith("person:carol:credit_manager:via:")

    page = client.get(answer.headers["location"])
    assert "The loan is disbursed." in page.text and ">Disburse</button>" not in page.text
    loan = _loans_get(world, f"/v1/loans/{loan_id}")
    rows = _loans_get(world, f"/v1/loans/{loan_id}/schedule")["rows"]
    assert loan["status"] == "active" and len(rows) == 6
    schedule = page.text.split('id="schedule"')[1].split("</table>")[0]
    assert schedule.count('<th scope="row">') == 6
    for row in rows:
        for key in ("principal_minor", "interest_minor", "total_minor", "paid_minor", "outstanding_minor"):
            assert money(row[key], "KES", "en") in schedule
    assert "15 Feb 2026" in schedule and "Overdue" in schedule and "Upcoming" in schedule
    assert "No transactions yet." in page.text

    arrears = page.text.split('id="arrears"')[1].split("</dl>")[0]
    overdue = sum(r["outstanding_minor"] for r in rows if r["overdue"])
    assert loan["days_past_due"] == 15 and overdue == rows[0]["total_minor"]
    assert "<dt>Days past due</dt><dd>15</dd>" in arrears
    assert f"<dt>Overdue amount</dt><dd>{money(overdue, 'KES', 'en')}</dd>" in arrears
    assert "1–30 days past due" in arrears
    assert f"<dt>Principal</dt><dd>{money(1_200_000, 'KES', 'en')}</dd>" in page.text


def test_posting_a_repayment_changes_the_transactions_and_loans_audit_names_the_person(world: World) -> None:
    loan_id = book_loan(world)["loan"]["id"]
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    form = _repay_form(client, loan_id, amount="1,500.50", date="2026-03-01", reference="MPESA-QX1")
    answer = client.post(f"/loans/{loan_id}/repayments", data=form, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/loans/{loan_id}?done=repaid"

    (txn,) = _loans_get(world, f"/v1/loans/{loan_id}/transactions")
    assert txn["kind"] == "repayment" and txn["amount_minor"] == 150_050 and txn["date"] == "2026-03-01"
    assert txn["external_id"] == "MPESA-QX1" and txn["created_by"].startswith("person:amina:")
    (posted,) = _audit(world, loan_id, "loan.repayment_posted")
    assert posted["actor"].startswith("person:amina:loan_officer:via:")

    page = client.get(answer.headers["location"])
    assert "The repayment is posted." in page.text
    transactions = page.text.split('id="transactions"')[1]
    assert (
        "Repayment" in transactions
        and money(150_050, "KES", "en") in transactions
        and "MPESA-QX1" in transactions
    )
    assert "<td>amina</td>" in transactions
    allocation = txn["allocation"]
    for part in ("penalty_minor", "fee_minor", "interest_minor", "principal_minor"):
        if allocation[part]:
            assert money(allocation[part], "KES", "en") in transactions


def test_a_double_submit_with_the_same_idempotency_key_posts_once(world: World) -> None:
    loan_id = book_loan(world)["loan"]["id"]
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    form = _repay_form(client, loan_id, amount="2000", date="2026-03-02", reference="RCPT-1")
    path = f"/loans/{loan_id}/repayments"
    first = client.post(path, data=form, follow_redirects=False)
    again = client.post(path, data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    # the same form sent once more with another reference: the key was spent on the first post
    edited = client.post(path, data={**form, "reference": "RCPT-2"}, follow_redirects=False)
    assert edited.status_code == 422 and "already used with a different request" in edited.text
    (txn,) = _loans_get(world, f"/v1/loans/{loan_id}/transactions")
    assert txn["amount_minor"] == 200_000 and txn["external_id"] == "RCPT-1"
    assert len(_audit(world, loan_id, "loan.repayment_posted")) == 1


def test_refused_repayment_values_are_shown_beside_their_fields_and_kept(world: World) -> None:
    loan_id = book_loan(world)["loan"]["id"]
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    path = f"/loans/{loan_id}/repayments"
    form = _repay_form(client, loan_id, amount="12.345", date="2026-03-01", reference="RCPT-9")
    answer = client.post(path, data=form, follow_redirects=False)
    assert answer.status_code == 422
    error = re.search(r'id="e-amount">([^<]+)<', answer.text)
    assert error is not None and "KES has 2 decimals" in error.group(1)
    assert 'value="12.345"' in answer.text and 'value="RCPT-9"' in answer.text
    assert 'id="e-reference"' not in answer.text

    blank = client.post(path, data={**form, "amount": "-5", "reference": " "}, follow_redirects=False)
    assert blank.status_code == 422
    assert re.search(r'id="e-amount">Enter the amount as a number', blank.text)
    assert re.search(r'id="e-reference">Enter the payment', blank.text)

    too_big = client.post(path, data={**form, "amount": "99999999999999"}, follow_redirects=False)
    assert too_big.status_code == 422  # loans refuses it (at most 10**15 minor units), beside the amount
    assert re.search(r'id="e-amount">[^<]*less than or equal', too_big.text)
    assert _loans_get(world, f"/v1/loans/{loan_id}/transactions") == []


def test_a_disbursement_date_after_the_business_date_is_refused_beside_its_field(world: World) -> None:
    loan_id = book_loan(world, disburse=False)["loan"]["id"]
    client = world.signed_in("carol", Role.CREDIT_MANAGER)
    answer = post_form(
        client, f"/loans/{loan_id}/disburse", {"disburse_date": "2026-04-01"}, from_page=f"/loans/{loan_id}"
    )
    assert answer.status_code == 422
    error = re.search(r'id="e-disburse_date">([^<]+)<', answer.text)
    assert error is not None and "business date" in error.group(1), answer.text
    assert 'value="2026-04-01"' in answer.text
    assert _loans_get(world, f"/v1/loans/{loan_id}")["status"] == "approved"


def _controls(page: Any) -> set[str]:
    """The loan actions a page offers: its forms' targets and buttons."""
    found = set(re.findall(r'action="/loans/[^"/]+/(disburse|repayments)"', page.text))
    found |= {name for name in ("Disburse", "Post repayment") if f">{name}</button>" in page.text}
    return found


def test_each_role_sees_only_the_actions_loans_admits_and_a_forced_post_is_refused(world: World) -> None:
    loan_id = book_loan(world, disburse=False)["loan"]["id"]
    path = f"/loans/{loan_id}"
    auditor = world.signed_in("olu", Role.AUDITOR)
    officer = world.signed_in("amina", Role.LOAN_OFFICER)
    manager = world.signed_in("carol", Role.CREDIT_MANAGER)
    seen = auditor.get(path)
    assert seen.status_code == 200 and _controls(seen) == set() and "idempotency_key" not in seen.text
    assert _controls(officer.get(path)) == set()  # loans disburses for credit managers and admins
    assert _controls(manager.get(path)) == {"disburse", "Disburse"}
    forced = post_form(auditor, f"{path}/disburse", {"disburse_date": DISBURSED_ON}, from_page=path)
    assert forced.status_code == 403 and "Your role cannot open this page" in forced.text
    by_officer = post_form(officer, f"{path}/disburse", {"disburse_date": DISBURSED_ON}, from_page=path)
    assert by_officer.status_code == 403
    assert _loans_get(world, f"/v1/loans/{loan_id}")["status"] == "approved"
    assert _audit(world, loan_id, "loan.disbursed") == []

    _post(world, f"/v1/loans/{loan_id}/disburse", {"date": DISBURSED_ON}, role=Role.ADMIN, key="d")
    seen = auditor.get(path)
    assert _controls(seen) == set() and "idempotency_key" not in seen.text
    assert _controls(officer.get(path)) == {"repayments", "Post repayment"}
    assert _controls(manager.get(path)) == set()  # loans takes repayments from officers and admins
    repayment = {"amount": "100", "date": "2026-03-01", "reference": "FORGED"}
    forced = post_form(auditor, f"{path}/repayments", repayment, from_page=path)
    assert forced.status_code == 403 and "Your role cannot open this page" in forced.text
    assert _loans_get(world, f"/v1/loans/{loan_id}/transactions") == []


def test_the_loan_list_filters_by_status_and_masks_borrowers_for_an_auditor(world: World) -> None:
    booked = book_loan(world, name="Achieng Otieno")
    active = booked["loan"]
    approved = book_loan(world, name="Baraka Mwangi", disburse=False)["loan"]
    officer = world.signed_in("amina", Role.LOAN_OFFICER)
    everything = officer.get("/loans")
    assert "Achieng Otieno" in everything.text and "Baraka Mwangi" in everything.text
    assert money(1_200_000, "KES", "en") in everything.text
    only_active = officer.get("/loans", params={"status": "active"})
    assert f'href="/loans/{active["id"]}"' in only_active.text
    assert f'href="/loans/{approved["id"]}"' not in only_active.text
    assert '<option value="active" selected>' in only_active.text
    row = only_active.text.split(f'href="/loans/{active["id"]}"')[1].split("</tr>")[0]
    assert "<td>Active</td>" in row and '<td class="num">15</td>' in row

    auditor = world.signed_in("olu", Role.AUDITOR).get("/loans")
    assert mask_name("Achieng Otieno") in auditor.text and "Achieng" not in auditor.text

    borrower = officer.get(f"/borrowers/{booked['borrower']['id']}")
    assert f'href="/loans/{active["id"]}"' in borrower.text
    assert f'href="/applications/{booked["application"]["id"]}"' in borrower.text
    assert "Approved" in borrower.text and f'href="/loans/{approved["id"]}"' not in borrower.text

    assert post_form(officer, "/language", {"language": "zh", "next": "/"}, from_page="/").status_code == 303
    for path in ("/loans", f"/loans/{active['id']}", f"/borrowers/{booked['borrower']['id']}", "/borrowers"):
        shown = officer.get(path)
        assert shown.status_code == 200 and 'lang="zh-Hans"' in shown.text, path
    assert money(1_200_000, "KES", "zh") in officer.get(f"/loans/{active['id']}").text


def test_the_loan_pages_say_when_loans_is_not_answering(world: World) -> None:
    client = world.signed_in("amina", Role.LOAN_OFFICER)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = client.app.state.http  # type: ignore[attr-defined]
    working = http["loans"]
    http["loans"] = httpx.Client(base_url="http://loans.test", transport=httpx.MockTransport(refuse))
    try:
        page = client.get("/loans")
    finally:
        http["loans"].close()
        http["loans"] = working
    assert page.status_code == 503
    assert "The loans service is not answering" in page.text and "Traceback" not in page.text


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [("1500.50", "KES", 150_050), ("1,500.5", "KES", 150_050), ("7", "KES", 700), ("2500", "RWF", 2500)],
)
def test_a_typed_amount_becomes_exact_minor_units(typed: str, currency: str, minor: int) -> None:
    assert parse_amount(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency"),
    [
        ("", "KES"),
        ("0", "KES"),
        ("0.00", "KES"),
        ("1.005", "KES"),
        ("12.5", "RWF"),
        ("1e3", "KES"),
        ("-3", "KES"),
        ("NaN", "KES"),
        ("Infinity", "KES"),
        ("1.2.3", "KES"),
    ],
)
def test_an_amount_that_is_not_exact_in_the_currency_is_refused(typed: str, currency: str) -> None:
    with pytest.raises(FormInvalid) as refused:
        parse_amount(typed, currency)
    assert set(refused.value.errors) == {"amount"}
