"""Borrower pages: registering through the form (refused values beside their fields, nothing
lost), the list and the national-id look-up, personal data masked by role, the role gates."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from services.console.domain.masking import mask_name, mask_tail
from shared.auth import Role
from shared.clock import ManualClock
from tests.console.kit import World, csrf, post_form
from tests.factories.loans import BorrowerPayloadFactory

KEY_FIELD = re.compile(r'name="idempotency_key" value="([^"]+)"')


def _register_via_api(world: World, **overrides: Any) -> dict[str, Any]:
    body = BorrowerPayloadFactory(**overrides)
    return dict(
        world.api(
            "loans",
            "POST",
            "/v1/borrowers",
            role=Role.LOAN_OFFICER,
            json=body,
            headers={"Idempotency-Key": f"setup-{body['national_id']}"},
        )
    )


def _find(world: World, national_id: str) -> list[dict[str, Any]]:
    return list(world.api("loans", "GET", "/v1/borrowers", params={"national_id": national_id}))


def test_a_loan_officer_registers_a_borrower_and_loans_audit_names_them(world: World) -> None:
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    form = {
        "type": "enterprise",
        "name": "Nakuru Grain Traders",
        "national_id": "KE-P051234567",
        "phone": "+254700111222",
        "region": "Nakuru",
    }
    answer = post_form(client, "/borrowers/new", form, from_page="/borrowers/new")
    assert answer.status_code == 303, answer.text
    (stored,) = _find(world, "KE-P051234567")
    assert answer.headers["location"] == f"/borrowers/{stored['id']}?registered=1"
    assert stored["type"] == "enterprise" and stored["phone"] == "+254700111222"
    page = client.get(answer.headers["location"])
    assert "The borrower is registered." in page.text
    assert "<h1>Nakuru Grain Traders</h1>" in page.text and "KE-P051234567" in page.text
    entries = world.api("loans", "GET", "/v1/audit/entries", params={"subject": f"borrower:{stored['id']}"})
    (entry,) = [e for e in entries["entries"] if e["action"] == "loan.borrower_registered"]
    assert entry["actor"].startswith("person:amina:loan_officer:via:")


def test_a_bad_national_id_is_shown_beside_its_field_and_the_other_values_kept(world: World) -> None:
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    form = {"type": "enterprise", "name": "Rift Valley Dairy", "national_id": "12", "phone": "+254711000999"}
    answer = post_form(client, "/borrowers/new", form, from_page="/borrowers/new")
    assert answer.status_code == 422
    error = re.search(r'<span class="field-error" id="e-national_id">([^<]+)</span>', answer.text)
    assert error is not None and "at least 3 characters" in error.group(1)
    assert 'aria-describedby="e-national_id"' in answer.text
    assert 'id="e-name"' not in answer.text  # only the refused field is marked
    assert 'value="Rift Valley Dairy"' in answer.text and 'value="+254711000999"' in answer.text
    assert '<option value="enterprise" selected>' in answer.text
    assert _find(world, "12") == []
    assert world.api("loans", "GET", "/v1/borrowers") == []


def test_a_national_id_already_registered_is_refused_beside_its_field(world: World) -> None:
    _register_via_api(world, national_id="KE-30000001")
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    form = {"type": "farmer", "name": "Second Person", "national_id": "KE-30000001"}
    answer = post_form(client, "/borrowers/new", form, from_page="/borrowers/new")
    assert answer.status_code == 409
    error = re.search(r'id="e-national_id">([^<]+)<', answer.text)
    assert error is not None and "already exists" in error.group(1)
    assert 'value="Second Person"' in answer.text
    assert len(world.api("loans", "GET", "/v1/borrowers")) == 1


def test_a_double_submit_of_the_registration_form_registers_once(world: World) -> None:
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    page = client.get("/borrowers/new")
    found = KEY_FIELD.search(page.text)
    assert found is not None
    form = {
        "type": "farmer",
        "name": "Grace Wambui",
        "national_id": "KE-40000002",
        "idempotency_key": found.group(1),
        "csrf_token": csrf(page),
    }
    first = client.post("/borrowers/new", data=form, follow_redirects=False)
    second = client.post("/borrowers/new", data=form, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(world.api("loans", "GET", "/v1/borrowers")) == 1


def test_the_borrower_page_masks_personal_data_for_an_auditor_and_not_for_a_loan_officer(
    world: World,
) -> None:
    borrower = _register_via_api(
        world, name="Wanjiru Kamau", national_id="KE-12345678", phone="+254722333444", region="Nyeri"
    )
    path = f"/borrowers/{borrower['id']}"
    officer = world.signed_in("amina", Role.LOAN_OFFICER).get(path)
    assert officer.status_code == 200
    assert "<h1>Wanjiru Kamau</h1>" in officer.text
    assert "KE-12345678" in officer.text and "+254722333444" in officer.text
    assert "masked for your role" not in officer.text
    assert f'href="/applications/new?borrower_id={borrower["id"]}"' in officer.text
    assert "New application for this borrower" in officer.text

    auditor = world.signed_in("olu", Role.AUDITOR).get(path)
    assert auditor.status_code == 200
    for secret in ("Wanjiru", "Kamau", "KE-12345678", "+254722333444"):
        assert secret not in auditor.text
    assert f"<h1>{mask_name('Wanjiru Kamau')}</h1>" in auditor.text
    assert mask_tail("KE-12345678") in auditor.text and mask_tail("+254722333444") in auditor.text
    assert "Nyeri" in auditor.text  # the region is not personal data
    assert "Personal data is masked for your role." in auditor.text
    assert "New application for this borrower" not in auditor.text

    listing = world.signed_in("olu").get("/borrowers")
    assert mask_name("Wanjiru Kamau") in listing.text and "Wanjiru" not in listing.text


def test_the_list_pages_and_finds_one_borrower_by_national_id(world: World, clock: ManualClock) -> None:
    for n in range(26):
        clock.advance(timedelta(seconds=1))  # loans lists oldest first
        _register_via_api(world, name=f"Farmer Number{n:02d}", national_id=f"KE-5{n:07d}")
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    first = client.get("/borrowers")
    assert first.text.count('<th scope="row">') == 25
    assert "Farmer Number00" in first.text and "Farmer Number25" not in first.text
    assert 'href="?page=2"' in first.text
    second = client.get("/borrowers?page=2")
    assert second.text.count('<th scope="row">') == 1 and "Farmer Number25" in second.text
    assert "Next page" not in second.text

    found = client.get("/borrowers", params={"national_id": " KE-50000007 "})
    assert found.text.count('<th scope="row">') == 1 and "Farmer Number07" in found.text
    missing = client.get("/borrowers", params={"national_id": "KE-99999999"})
    assert "No borrower has this national id." in missing.text


def test_an_auditor_cannot_register_a_borrower_even_by_a_forced_post(world: World) -> None:
    client = world.signed_in("olu", Role.AUDITOR)
    assert "Register a borrower" not in client.get("/borrowers").text
    assert client.get("/borrowers/new").status_code == 403
    forced = post_form(
        client,
        "/borrowers/new",
        {"type": "farmer", "name": "Forged", "national_id": "KE-60000000"},
        from_page="/borrowers",
    )
    assert forced.status_code == 403 and "Your role cannot open this page" in forced.text
    assert world.api("loans", "GET", "/v1/borrowers") == []
