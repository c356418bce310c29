"""Application pages: the review queue (borrower names, links, filters, pages), the form
generated from the segment's feature spec (refused values beside their fields, nothing lost),
the score card from the real scoring service, Approve with maker-checker between persons,
Reject with its adverse-action notice (page and PDF), the auditor's read-only view, and the
page when scoring does not answer."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.console.domain.formatting import money, percent
from services.console.domain.masking import mask_name
from services.console.service import applications as service
from shared.auth import Role
from shared.clock import ManualClock
from tests.console.kit import World, csrf, post_form
from tests.factories.loans import BorrowerPayloadFactory, ProductPayloadFactory

FARMER = {
    "land_area_ha": 2.5,
    "land_tenure": "customary",
    "main_crop": "maize",
    "irrigation": False,
    "years_farming": 12,
    "household_size": 6,
    "coop_member": True,
    "off_farm_income_monthly": 85.0,
    "prior_loans": 2,
    "on_time_repayment_rate": 0.9,
    "mobile_money_inflow_monthly": 140.0,
    "marketplace_orders_12m": 18,
    "marketplace_volume_12m": 1250.0,
    "marketplace_dispute_rate": 0.05,
    "yield_variability_cv": 0.3,
    "distance_to_market_km": 14.0,
    "rainfall_anomaly_pct": -12.0,
}
"""A farmer that scores (the spec's example)."""
WEAK_FARMER = {
    **FARMER,
    "land_area_ha": 0.2,
    "years_farming": 0,
    "coop_member": False,
    "on_time_repayment_rate": 0.1,
    "distance_to_market_km": 400.0,
}
KEY_FIELD = re.compile(r'name="idempotency_key" value="([^"]+)"')


def _post(world: World, path: str, body: Any, *, role: Role = Role.ADMIN) -> Any:
    return world.api(
        "loans", "POST", path, role=role, json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )


def _product(world: World, **overrides: Any) -> dict[str, Any]:
    return dict(_post(world, "/v1/products", ProductPayloadFactory(**overrides)))


def _borrower(world: World, name: str = "Wanjiru Kamau") -> dict[str, Any]:
    return dict(_post(world, "/v1/borrowers", BorrowerPayloadFactory(name=name), role=Role.LOAN_OFFICER))


def _apply(
    world: World, product: dict[str, Any], borrower: dict[str, Any], features: dict[str, Any] = FARMER
) -> dict[str, Any]:
    body = {
        "product_id": product["id"],
        "borrower_id": borrower["id"],
        "principal_minor": 1_200_000,
        "annual_interest_rate": "18",
        "number_of_repayments": 6,
        "disbursement_date": "2026-01-15",
        "features": features,
    }
    application = _post(world, "/v1/applications", body, role=Role.LOAN_OFFICER)
    assert application["status"] == "scored", application
    return dict(application)


def _form_values(product_id: str, borrower_id: str, **overrides: str) -> dict[str, str]:
    values = {
        "product_id": product_id,
        "borrower_id": borrower_id,
        "principal": "12000.00",
        "annual_interest_rate": "18",
        "number_of_repayments": "6",
        "disbursement_date": "2026-01-15",
        "first_repayment_date": "",
    }
    for name, value in FARMER.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        values[f"features.{name}"] = text
    values.update(overrides)
    return values


def _submit_form(client: Any, values: dict[str, str]) -> httpx.Response:
    page = client.get(f"/applications/new?borrower_id={values['borrower_id']}")
    keys = KEY_FIELD.findall(page.text)
    assert keys, "the form has no idempotency key"
    data = {**values, "csrf_token": csrf(page), "idempotency_key": keys[0]}
    answer: httpx.Response = client.post("/applications", data=data, follow_redirects=False)
    return answer


def _row(page: str, href: str) -> list[str]:
    """The cells' texts of the table row that links to ``href``."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        if f'href="{href}"' in row:
            cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
            return [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
    raise AssertionError(f"no row links to {href}")


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'<span class="field-error" id="e-{re.escape(field)}">([^<]*)</span>', page)
    assert found is not None, f"no error beside {field}"
    return found.group(1)


def _input_value(page: str, field: str) -> str:
    found = re.search(
        rf'<input id="f-{re.escape(field)}" name="{re.escape(field)}" type="\w+" value="([^"]*)"', page
    )
    assert found is not None, f"no input {field}"
    return found.group(1)


def _selected(page: str, field: str) -> str:
    select = re.search(
        rf'<select id="f-{re.escape(field)}" name="{re.escape(field)}".*?</select>', page, re.S
    )
    assert select is not None, f"no select {field}"
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(0))
    assert chosen is not None, f"nothing selected in {field}"
    return chosen.group(1)


def test_the_queue_lists_applications_with_borrower_names_linked_and_masks_them_for_auditors(
    world: World, clock: ManualClock
) -> None:
    product = _product(world, name="Maize inputs")
    application = _apply(world, product, _borrower(world, "Wanjiru Kamau"))
    clock.advance(timedelta(days=3, hours=2))
    score = world.api("scoring", "GET", f"/v1/scores/{application['score']['id']}")

    page = world.signed_in("amina", Role.LOAN_OFFICER).get("/applications")
    assert page.status_code == 200
    assert f'<a href="/applications/{application["id"]}">Wanjiru Kamau</a>' in page.text
    assert "Maize inputs" in page.text and money(1_200_000, "KES", "en") in page.text
    hint = {"approve": "Approve", "review": "Review", "decline": "Decline"}[score["decision_hint"]]
    assert _row(page.text, f"/applications/{application['id']}") == [
        "Wanjiru Kamau",
        "Maize inputs",
        "Scored, waiting for a decision",
        str(score["integer_score"]),  # the printable integer score (loans' score rounded half-even)
        score["grade"],
        hint,
        money(1_200_000, "KES", "en"),
        "3",
    ]
    for label in ("Status", "Decision hint", "Grade", "Product"):
        assert f">{label}</label>" in page.text

    audited = world.signed_in("ursula", Role.AUDITOR).get("/applications")
    assert audited.status_code == 200
    assert mask_name("Wanjiru Kamau") in audited.text and "Wanjiru Kamau" not in audited.text
    assert ">New application</a>" not in audited.text


def test_the_queue_filters_by_status_hint_grade_and_product(world: World) -> None:
    maize, coffee = _product(world, name="Maize inputs"), _product(world, name="Coffee rehab")
    first = _apply(world, maize, _borrower(world, "Wanjiru Kamau"))
    second = _apply(world, coffee, _borrower(world, "Otieno Odhiambo"))
    _post(world, f"/v1/applications/{second['id']}/approve", {"note": "fine"}, role=Role.CREDIT_MANAGER)
    client = world.signed_in("amina", Role.LOAN_OFFICER)

    def listed(query: str) -> set[str]:
        page = client.get(f"/applications?{query}")
        assert page.status_code == 200
        return set(re.findall(r'<a href="/applications/([0-9a-f-]{36})">', page.text))

    assert listed("") == {first["id"]}  # the queue opens on what waits for a decision
    assert listed("status=") == {first["id"], second["id"]}
    assert listed("status=approved") == {second["id"]}
    assert listed(f"status=&product_id={coffee['id']}") == {second["id"]}
    grade, hint = first["score"]["grade"], first["score"]["decision_hint"]
    assert listed(f"grade={grade}") == {first["id"]}
    assert listed(f"grade={'A' if grade != 'A' else 'B'}") == set()
    assert listed(f"decision_hint={hint}") == {first["id"]}
    assert listed(f"decision_hint={'review' if hint != 'review' else 'approve'}") == set()
    chosen = client.get(f"/applications?status=approved&product_id={coffee['id']}").text
    assert _selected(chosen, "status") == "approved" and _selected(chosen, "product_id") == coffee["id"]


def test_the_queue_pages_oldest_first(
    world: World, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    product = _product(world)
    ids = []
    for i in range(3):
        ids.append(_apply(world, product, _borrower(world, f"Farmer {i}"))["id"])
        clock.advance(timedelta(minutes=5))
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    first = client.get("/applications").text
    assert re.findall(r'<a href="/applications/([0-9a-f-]{36})">', first) == ids[:2]
    assert 'href="?status=scored&amp;page=2">Next page</a>' in first and "Previous page" not in first
    second = client.get("/applications?status=scored&page=2").text
    assert re.findall(r'<a href="/applications/([0-9a-f-]{36})">', second) == ids[2:]
    assert "Next page" not in second and 'href="?status=scored&amp;page=1">Previous page</a>' in second


def test_the_form_is_generated_from_the_segments_feature_spec(world: World) -> None:
    product = _product(world, name="Maize inputs")
    borrower = _borrower(world, "Wanjiru Kamau")
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    start = client.get("/applications/new")
    assert start.status_code == 200 and "Wanjiru Kamau" in start.text and ">Borrower</label>" in start.text
    page = client.get(f"/applications/new?borrower_id={borrower['id']}")
    assert page.status_code == 200
    spec = world.api("scoring", "GET", "/v1/segments/farmer")
    for feature in spec["features"]:
        assert f'<label for="f-features.{feature["name"]}">' in page.text, feature["name"]
    assert '<label for="f-features.land_area_ha">Land area (hectares)</label>' in page.text
    assert "From 0 to 500 hectares" in page.text
    tenure = re.search(r'<select id="f-features.land_tenure".*?</select>', page.text, re.S)
    assert tenure is not None and all(
        f'value="{c}"' in tenure.group(0) for c in spec["features"][1]["categories"]
    )
    assert '<label for="f-principal">' in page.text and 'name="idempotency_key"' in page.text
    assert _selected(page.text, "product_id") == product["id"]
    assert world.signed_in("carol", Role.CREDIT_MANAGER).get("/applications/new").status_code == 403


def test_a_refused_value_comes_back_beside_its_field_with_the_other_values_kept(world: World) -> None:
    product = _product(world, max_principal_minor=5_000_000)
    borrower = _borrower(world)
    client = world.signed_in("amina", Role.LOAN_OFFICER)

    bad = _submit_form(
        client, _form_values(product["id"], borrower["id"], **{"features.land_area_ha": "9999"})
    )
    assert bad.status_code == 422
    assert _field_error(bad.text, "features.land_area_ha") == "Must be between 0 and 500."
    assert _input_value(bad.text, "features.land_area_ha") == "9999"
    assert _input_value(bad.text, "features.years_farming") == "12"
    assert _selected(bad.text, "features.land_tenure") == "customary"
    assert _selected(bad.text, "features.coop_member") == "true"
    assert _input_value(bad.text, "principal") == "12000.00"

    # loans refuses a principal over the product's limit: said beside the principal
    over = _submit_form(client, _form_values(product["id"], borrower["id"], principal="60000"))
    assert over.status_code == 422
    assert "must be between 100000 and 5000000" in _field_error(over.text, "principal")
    assert _input_value(over.text, "principal") == "60000"
    assert _input_value(over.text, "features.distance_to_market_km") == "14.0"
    assert world.api("loans", "GET", "/v1/applications") == []  # nothing was stored

    # corrected, the same form (its idempotency key kept) goes through once
    (key,) = KEY_FIELD.findall(over.text)
    fixed = {**_form_values(product["id"], borrower["id"], principal="30000"), "idempotency_key": key}
    for _ in range(2):  # a double submit replays
        answer = client.post(
            "/applications", data={**fixed, "csrf_token": csrf(over)}, follow_redirects=False
        )
        assert answer.status_code == 303
    (stored,) = world.api("loans", "GET", "/v1/applications")
    assert (
        stored["principal_minor"] == 3_000_000
        and answer.headers["location"] == f"/applications/{stored['id']}"
    )


def test_a_submitted_application_shows_its_score_card(world: World) -> None:
    product = _product(world)
    borrower = _borrower(world, "Wanjiru Kamau")
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    answer = _submit_form(client, _form_values(product["id"], borrower["id"], principal="12,000.50"))
    assert answer.status_code == 303, answer.text
    application_id = answer.headers["location"].rsplit("/", 1)[1]
    stored = world.api("loans", "GET", f"/v1/applications/{application_id}")
    assert stored["principal_minor"] == 1_200_050 and stored["features"]["irrigation"] is False
    assert stored["submitted_by"].startswith("person:amina:loan_officer:")

    page = client.get(answer.headers["location"])
    assert page.status_code == 200
    score = world.api("scoring", "GET", f"/v1/scores/{stored['score']['id']}")
    text = page.text
    assert "Application for Wanjiru Kamau" in text
    assert f"<strong>{score['integer_score']}</strong>" in text  # the printable integers, which add up
    assert f"<dd>{score['grade']}</dd>" in text
    assert f"<dd>{percent(Decimal(str(score['pd'])), 'en', digits=2)}</dd>" in text
    assert f"<dd>{score['integer_base_points']}</dd>" in text
    for contribution in score["contributions"]:
        points = contribution["integer_points"]
        assert f'<td class="num">{"+" if points > 0 else ""}{points}</td>' in text
    assert (
        score["integer_base_points"] + sum(c["integer_points"] for c in score["contributions"])
        == (score["integer_score"])
    )
    assert '<th scope="row">Land area (hectares)</th>' in text
    assert 1 <= len(score["reasons"]) <= 4
    for reason in score["reasons"]:
        assert f"<li>{reason['text']} " in text
    assert "<svg" in text and 'role="img"' in text  # scoring's waterfall, inline
    assert '<th scope="col">Due date</th>' in text  # the schedule preview
    assert len(re.findall(r'<th scope="row" class="num">\d+</th>', text)) == 6  # six installments
    assert (
        ">Approve</button>" not in text and ">Reject</button>" not in text
    )  # a loan officer decides nothing


def test_a_credit_manager_approves_another_persons_application_and_loans_names_her(world: World) -> None:
    application = _apply(world, _product(world), _borrower(world))
    client = world.signed_in("carol", Role.CREDIT_MANAGER)
    path = f"/applications/{application['id']}"
    page = client.get(path)
    assert ">Approve</button>" in page.text and ">Reject</button>" in page.text
    form = {"note": "", "idempotency_key": KEY_FIELD.findall(page.text)[0]}
    answer = post_form(client, f"{path}/approve", form, from_page=path)
    assert answer.status_code == 303 and answer.headers["location"] == path
    again = post_form(client, f"{path}/approve", form, from_page=path)  # a double submit replays
    assert again.status_code == 303 and again.headers["location"] == path
    decided = world.api("loans", "GET", f"/v1/applications/{application['id']}")
    assert decided["status"] == "approved" and decided["decision"]["by"].startswith("person:carol:")
    after = client.get(path).text
    assert f'<a href="/loans/{decided["loan_id"]}">Open the loan</a>' in after
    assert ">Approve</button>" not in after
    entries = world.api("loans", "GET", "/v1/audit/entries", params={"subject": f"loan:{decided['loan_id']}"})
    (approved,) = [e for e in entries["entries"] if e["action"] == "loan.approved"]
    assert approved["actor"].startswith("person:carol:credit_manager:via:")


def test_approving_over_a_decline_hint_needs_a_note(world: World) -> None:
    application = _apply(world, _product(world), _borrower(world), WEAK_FARMER)
    assert application["score"]["decision_hint"] == "decline"
    client = world.signed_in("carol", Role.CREDIT_MANAGER)
    path = f"/applications/{application['id']}"
    assert "Note (needed to approve over a decline hint)" in client.get(path).text
    refused = post_form(client, f"{path}/approve", {"note": "  "}, from_page=path)
    assert refused.status_code == 422
    assert "The score&#39;s decision hint is decline: write a note to approve over it." in refused.text
    assert world.api("loans", "GET", f"/v1/applications/{application['id']}")["status"] == "scored"
    answer = post_form(client, f"{path}/approve", {"note": "collateral covers it"}, from_page=path)
    assert answer.status_code == 303
    decided = world.api("loans", "GET", f"/v1/applications/{application['id']}")
    assert decided["decision"]["note"] == "collateral covers it"


def test_the_person_who_submitted_cannot_approve(world: World) -> None:
    product = _product(world)
    borrower = _borrower(world)
    client = world.signed_in("ada", Role.ADMIN)
    submitted = _submit_form(client, _form_values(product["id"], borrower["id"]))
    assert submitted.status_code == 303
    path = submitted.headers["location"]
    answer = post_form(client, f"{path}/approve", {"note": "mine"}, from_page=path)
    assert answer.status_code == 403
    assert "You submitted this application; another credit manager must decide it." in answer.text
    assert "mine</textarea>" in answer.text  # the note is kept
    application_id = path.rsplit("/", 1)[1]
    assert world.api("loans", "GET", f"/v1/applications/{application_id}")["status"] == "scored"


def test_rejecting_shows_the_reasons_then_the_notice_and_its_pdf(world: World) -> None:
    application = _apply(
        world, _product(world, name="Maize inputs"), _borrower(world, "Wanjiru Kamau"), WEAK_FARMER
    )
    reasons = world.api("scoring", "GET", f"/v1/scores/{application['score']['id']}")["reasons"]
    assert reasons, "the weak farmer's score has reasons"
    client = world.signed_in("carol", Role.CREDIT_MANAGER)
    path = f"/applications/{application['id']}"
    confirm = client.get(f"{path}/reject")
    assert confirm.status_code == 200
    for reason in reasons:
        assert f"<li>{reason['text']} " in confirm.text
    answer = post_form(client, f"{path}/reject", {"note": "too small"}, from_page=f"{path}/reject")
    assert answer.status_code == 303 and answer.headers["location"] == f"{path}/notice"

    notice = client.get(f"{path}/notice")
    assert notice.status_code == 200
    assert "Notice of adverse action" in notice.text and "Wanjiru Kamau" in notice.text
    assert "<dd>Declined</dd>" in notice.text and "Maize inputs" in notice.text
    listed = re.findall(r"<li>(.*?) <span", notice.text)
    assert listed == [r["text"] for r in reasons]
    assert world.api("loans", "GET", f"/v1/applications/{application['id']}")["status"] == "rejected"

    pdf = client.get(f"{path}/notice.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == (
        f'attachment; filename="adverse-action-notice-{application["id"]}.pdf"'
    )
    in_pdf = reasons[0]["text"].replace("(", r"\(").replace(")", r"\)")
    assert f"({in_pdf} \\({reasons[0]['code']}\\)) Tj".encode() in pdf.content  # PDF escapes parentheses
    assert b"(Wanjiru Kamau) Tj" in pdf.content

    # an application that was not rejected has no notice
    other = _apply(world, _product(world), _borrower(world, "Otieno"))
    assert client.get(f"/applications/{other['id']}/notice").status_code == 404


def test_a_chinese_reader_gets_the_reasons_in_chinese_on_the_page_and_in_the_pdf(world: World) -> None:
    application = _apply(world, _product(world), _borrower(world, "Wanjiru Kamau"), WEAK_FARMER)
    chinese = world.api("scoring", "GET", f"/v1/scores/{application['score']['id']}", params={"lang": "zh"})
    client = world.signed_in("carol", Role.CREDIT_MANAGER)
    path = f"/applications/{application['id']}"
    switched = post_form(client, "/language", {"language": "zh", "next": path}, from_page=path)
    assert switched.status_code == 303
    page = client.get(path).text
    assert '<th scope="row">耕地面积（公顷）</th>' in page  # the points table's labels are translated
    for reason in chinese["reasons"]:
        assert f"<li>{reason['text']} " in page
    post_form(client, f"{path}/reject", {}, from_page=f"{path}/reject")
    notice = client.get(f"{path}/notice").text
    assert re.findall(r"<li>(.*?) <span", notice) == [r["text"] for r in chinese["reasons"]]
    pdf = client.get(f"{path}/notice.pdf")
    assert pdf.content.startswith(b"%PDF") and b"STSong-Light" in pdf.content


def test_an_auditor_sees_no_decision_controls_and_cannot_post_one(world: World) -> None:
    application = _apply(world, _product(world), _borrower(world, "Wanjiru Kamau"))
    path = f"/applications/{application['id']}"
    auditor = world.signed_in("ursula", Role.AUDITOR)
    page = auditor.get(path)
    assert page.status_code == 200
    assert "Approve</button>" not in page.text and "Reject</button>" not in page.text
    assert "/approve" not in page.text and "/reject" not in page.text
    assert mask_name("Wanjiru Kamau") in page.text and "Wanjiru Kamau" not in page.text
    assert "The schedule preview is computed for loan officers and credit managers." in page.text
    refused = auditor.post(
        f"{path}/approve", data={"csrf_token": csrf(page), "note": "x"}, follow_redirects=False
    )
    assert (
        refused.status_code == 403 and "Your role cannot open this page or take this action." in refused.text
    )
    assert auditor.get(f"{path}/reject").status_code == 403
    assert world.api("loans", "GET", f"/v1/applications/{application['id']}")["status"] == "scored"


def test_the_application_page_still_shows_when_scoring_does_not_answer(world: World) -> None:
    application = _apply(world, _product(world), _borrower(world, "Wanjiru Kamau"))
    client = world.signed_in("carol", Role.CREDIT_MANAGER)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = httpx.Client(base_url="http://scoring.test", transport=httpx.MockTransport(refuse))
    client.app.state.http["scoring"] = down  # type: ignore[attr-defined]
    try:
        page = client.get(f"/applications/{application['id']}")
    finally:
        down.close()
    assert page.status_code == 200
    assert "The scoring service is not answering right now" in page.text
    assert "Application for Wanjiru Kamau" in page.text and money(1_200_000, "KES", "en") in page.text
    assert ">Approve</button>" in page.text  # deciding needs loans only
