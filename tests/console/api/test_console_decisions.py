"""The auditor's decision pages: the explorer's filters, a decision's points and reasons, the
signed receipt verified in the console, its downloads, replay, role gating and language."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import timedelta
from typing import Any, cast

import factory.random
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.console.domain import formatting
from services.console.domain.feature_labels import feature_label
from services.console.service import decisions as decisions_service
from services.scoring.domain.model import TrainedModel
from services.scoring.models import Decision
from services.scoring.repository.artifacts import build_store
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.clock import ManualClock
from shared.receipts import check_receipt
from tests.console.kit import World, post_form
from tests.factories.scoring import EnterpriseFeaturesFactory, ScoreRequestFactory
from tests.support import auth

DECISION_LINK = re.compile(r'href="/decisions/([0-9a-f-]{36})"')
BUTTON = re.compile(r"<button[^>]*>([^<]+)</button>")


def exact(value: float) -> str:
    """Exact points as the decision page shows them beside the integers (four decimals, grouped)."""
    return formatting.number(value, "en", digits=4)


def score(world: World, **body: Any) -> dict[str, Any]:
    """A decision scoring made for a loan officer (the way loans asks for one)."""
    answer: dict[str, Any] = world.api(
        "scoring",
        "POST",
        "/v1/scores",
        role=Role.LOAN_OFFICER,
        json=ScoreRequestFactory(**body),
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    return answer


def listed(page: httpx.Response) -> list[str]:
    """The decision ids the explorer lists, in order."""
    assert page.status_code == 200, page.text
    return DECISION_LINK.findall(page.text)


def tamper(
    world: World, score_id: str, *, receipt: dict[str, str] | None = None, score_delta: float = 0.0
) -> None:
    """Change a stored decision behind scoring's back (what someone with its database could do):
    fields of its receipt, or the score it answers with."""
    with world.contexts["scoring"].db.unit_of_work() as session:
        row = session.execute(select(Decision).where(Decision.id == score_id)).scalar_one()
        row.receipt = json.dumps({**json.loads(row.receipt), **(receipt or {})})
        outcome = json.loads(row.outcome)
        row.outcome = json.dumps({**outcome, "score": outcome["score"] + score_delta})


@pytest.fixture
def auditor(world: World) -> TestClient:
    return world.signed_in("ada", Role.AUDITOR, name="Ada Auditor")


def test_the_explorer_filters_by_subject_segment_hint_version_and_dates(
    world: World, clock: ManualClock, console_models: dict[str, TrainedModel]
) -> None:
    factory.random.reseed_random("console-explorer")
    first = []
    for i in range(4):
        first.append(score(world, subject_id=f"farmer-{i}"))
        clock.advance(timedelta(minutes=1))
    clock.advance(timedelta(days=3))
    coop = score(world, segment="enterprise", subject_id="coop-1", features=EnterpriseFeaturesFactory())
    scoring_ctx = cast(ScoringContext, world.contexts["scoring"])
    with scoring_ctx.db.unit_of_work() as session:
        v2 = register_model(
            session,
            scoring_ctx,
            build_store(scoring_ctx),
            model=console_models["farmer"],
            actor="test:setup",
            data_source="again",
        ).version
    world.api("scoring", "POST", f"/v1/models/{v2}/promote", role=Role.CREDIT_MANAGER)
    clock.advance(timedelta(days=1))
    later = score(world, subject_id="farmer-0")

    auditor = world.signed_in("ada", Role.AUDITOR)  # after the days went by (an idle session ends)
    everything = listed(auditor.get("/decisions"))
    assert everything == [later["id"], coop["id"], *[d["id"] for d in reversed(first)]]  # newest first
    assert listed(auditor.get("/decisions", params={"subject_id": "farmer-0"})) == [
        later["id"],
        first[0]["id"],
    ]
    assert listed(auditor.get("/decisions", params={"segment": "enterprise"})) == [coop["id"]]
    assert listed(auditor.get("/decisions", params={"model_version": v2})) == [later["id"]]
    hint = first[1]["decision_hint"]
    same_hint = [d["id"] for d in [later, coop, *reversed(first)] if d["decision_hint"] == hint]
    assert listed(auditor.get("/decisions", params={"decision_hint": hint})) == same_hint
    # 2026-03-02 is the first day; the enterprise decision is on 03-05, the last one on 03-06
    assert listed(auditor.get("/decisions", params={"date_from": "2026-03-05", "date_to": "2026-03-05"})) == [
        coop["id"]
    ]
    assert listed(auditor.get("/decisions", params={"date_to": "2026-03-02"})) == [
        d["id"] for d in reversed(first)
    ]
    combined = auditor.get("/decisions", params={"subject_id": "farmer-0", "date_from": "2026-03-03"})
    assert listed(combined) == [later["id"]]
    assert 'value="farmer-0"' in combined.text  # the filters stay in the form


def test_the_explorer_pages_with_one_more_row_than_it_shows(
    world: World, auditor: TestClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decisions_service, "PAGE_SIZE", 2)
    made = []
    for i in range(5):
        made.append(score(world, subject_id=f"s-{i}")["id"])
        clock.advance(timedelta(minutes=1))
    newest = list(reversed(made))
    first = auditor.get("/decisions", params={"segment": "farmer"})
    assert listed(first) == newest[:2]
    assert 'href="?segment=farmer&amp;page=2">Next page' in first.text
    last = auditor.get("/decisions", params={"segment": "farmer", "page": 3})
    assert listed(last) == newest[4:]
    assert "Next page" not in last.text and "page=2" in last.text


def test_a_date_that_is_not_a_date_is_shown_beside_its_field_with_the_values_kept(
    world: World, auditor: TestClient
) -> None:
    page = auditor.get("/decisions", params={"date_from": "2026-02-30", "subject_id": "farmer-7"})
    assert page.status_code == 422
    assert re.search(r'id="f-date_from"[^>]*aria-invalid="true"', page.text)
    assert 'id="e-date_from"' in page.text
    assert 'value="farmer-7"' in page.text and 'value="2026-02-30"' in page.text
    backwards = auditor.get("/decisions", params={"date_from": "2026-03-05", "date_to": "2026-03-01"})
    assert backwards.status_code == 422 and 'id="e-date_to"' in backwards.text


def test_a_decision_shows_its_points_reasons_waterfall_and_receipt(world: World, auditor: TestClient) -> None:
    factory.random.reseed_random("console-decision")
    made = score(world, subject_id="farmer-42")
    page = auditor.get(f"/decisions/{made['id']}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "<h1>Decision for farmer-42</h1>" in text
    assert f"<dd>{made['integer_score']}</dd>" in text and f"<dd>{made['grade']}</dd>" in text
    # printed points are the integers that add up; the exact ones stand beside them
    assert (
        f'<td class="num">{made["integer_base_points"]}</td><td class="num">{exact(made["base_points"])}</td>'
        in text
    )
    for contribution in made["contributions"]:
        row = f'<th scope="row">{html.escape(feature_label(contribution["feature"]))}</th>'
        assert row in text
        points = contribution["integer_points"], exact(contribution["points"])
        cells = '<td class="num">{}</td><td class="num">{}</td>'.format(*points)
        assert cells in text.split(row, 1)[1][:300]
    assert made["reasons"], "the fixture applicant should lose points somewhere"
    for reason in made["reasons"]:
        assert f"<strong>{reason['text']}</strong>" in text
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in text and "<desc" in text  # scoring's waterfall
    assert made["receipt"]["signature"] in text and "&#34;score_id&#34;" in text  # the receipt, escaped
    buttons = set(BUTTON.findall(text))
    assert buttons == {
        "Verify receipt",
        "Replay",
        "中文",
        "Sign out",
    }  # no Approve, Reject, Disburse, repayment


def test_scorings_waterfall_is_inlined_only_while_nothing_in_it_is_active(world: World) -> None:
    made = score(world)
    svg = (
        world.apps["scoring"]
        .get(f"/v1/scores/{made['id']}/waterfall.svg", headers=auth(world.keys["scoring"][Role.AUDITOR]))
        .text
    )
    assert decisions_service.safe_svg(svg) == svg[svg.index("<svg") :]
    end = svg.rindex("</svg>")
    for active in (
        "<script>alert(1)</script>",
        '<rect onmouseover="alert(1)"/>',
        '<a href="javascript:alert(1)"><text>x</text></a>',
        "<foreignObject><div>x</div></foreignObject>",
    ):
        assert decisions_service.safe_svg(svg[:end] + active + svg[end:]) is None, active
    assert decisions_service.safe_svg("<html><body>not a chart</body></html>") is None
    assert decisions_service.safe_svg('<!DOCTYPE svg [<!ENTITY x "y">]>' + svg) is None


def test_verify_receipt_checks_the_signature_in_the_console(world: World, auditor: TestClient) -> None:
    made = score(world)
    path = f"/decisions/{made['id']}"
    answer = post_form(auditor, f"{path}/verify", {}, from_page=path)
    assert answer.status_code == 200, answer.text
    assert "Valid: the receipt&#39;s signature verifies with the published key" in answer.text
    assert made["receipt"]["key_id"] in answer.text
    assert "Not valid" not in answer.text


def test_a_tampered_receipt_is_not_valid_and_replay_names_the_difference(
    world: World, auditor: TestClient
) -> None:
    made = score(world)
    forged = made["receipt"]["payload"].replace(f'"grade":"{made["grade"]}"', '"grade":"A"')
    if forged == made["receipt"]["payload"]:
        forged = made["receipt"]["payload"].replace(f'"grade":"{made["grade"]}"', '"grade":"B"')
    tamper(world, made["id"], receipt={"payload": forged})
    path = f"/decisions/{made['id']}"
    verified = post_form(auditor, f"{path}/verify", {}, from_page=path)
    assert verified.status_code == 200
    assert "Not valid." in verified.text and "signature does not verify" in verified.text
    replayed = post_form(auditor, f"{path}/replay", {"idempotency_key": uuid.uuid4().hex}, from_page=path)
    assert replayed.status_code == 200
    assert "Not identical" in replayed.text and "receipt.signature" in replayed.text


def test_an_answer_that_differs_from_what_was_signed_is_not_valid(world: World, auditor: TestClient) -> None:
    made = score(world)
    tamper(world, made["id"], score_delta=50.0)  # the receipt still verifies; the answer is not what it signs
    path = f"/decisions/{made['id']}"
    verified = post_form(auditor, f"{path}/verify", {}, from_page=path)
    assert "Not valid." in verified.text and "differs from the signed payload" in verified.text


def test_replay_says_identical_and_a_double_submit_replays_once(world: World, auditor: TestClient) -> None:
    made = score(world)
    path = f"/decisions/{made['id']}"
    key = uuid.uuid4().hex
    first = post_form(auditor, f"{path}/replay", {"idempotency_key": key}, from_page=path)
    assert first.status_code == 200, first.text
    assert "Identical: replaying with" in first.text and made["model_version"] in first.text
    again = post_form(auditor, f"{path}/replay", {"idempotency_key": key}, from_page=path)
    assert "Identical: replaying with" in again.text
    entries = world.api("scoring", "GET", "/v1/audit/entries", params={"subject": f"score:{made['id']}"})
    replays = [e for e in entries["entries"] if e["action"] == "score.replayed"]
    assert len(replays) == 1 and replays[0]["actor"].startswith("person:ada:auditor:via:")


def test_the_downloads_are_attachments_that_verify_offline(world: World, auditor: TestClient) -> None:
    made = score(world)
    receipt = auditor.get(f"/decisions/{made['id']}/receipt.json")
    assert receipt.status_code == 200
    assert receipt.headers["content-type"].startswith("application/json")
    assert receipt.headers["content-disposition"] == f'attachment; filename="receipt-{made["id"]}.json"'
    assert receipt.json() == made["receipt"]
    keys = auditor.get("/decisions/keys.json")
    assert keys.status_code == 200
    assert keys.headers["content-disposition"] == 'attachment; filename="scoring-keys.json"'
    assert keys.json() == world.api("scoring", "GET", "/v1/keys")
    assert check_receipt(receipt.json(), keys.json()).valid  # what an auditor does offline


def test_a_loan_officer_gets_the_403_page(world: World) -> None:
    made = score(world)
    officer = world.signed_in("amina", Role.LOAN_OFFICER)
    for path in ("/decisions", f"/decisions/{made['id']}", f"/decisions/{made['id']}/receipt.json"):
        page = officer.get(path)
        assert page.status_code == 403 and "Not for your role" in page.text
    refused = officer.post(
        f"/decisions/{made['id']}/replay", data={"csrf_token": "x", "idempotency_key": "k"}
    )
    assert refused.status_code == 403


def test_in_chinese_the_reasons_are_scorings_chinese_texts(world: World, auditor: TestClient) -> None:
    factory.random.reseed_random("console-decision")
    made = score(world, subject_id="farmer-42")
    chinese = world.api("scoring", "GET", f"/v1/scores/{made['id']}", params={"lang": "zh"})
    assert post_form(auditor, "/language", {"language": "zh", "next": "/"}, from_page="/").status_code == 303
    page = auditor.get(f"/decisions/{made['id']}")
    assert page.status_code == 200 and 'lang="zh-Hans"' in page.text
    for english, translated in zip(made["reasons"], chinese["reasons"], strict=True):
        assert translated["text"] != english["text"]
        assert f"<strong>{translated['text']}</strong>" in page.text
    assert "基础分" in page.text  # the waterfall's labels too


def test_a_decision_that_does_not_exist_is_a_404_page(auditor: TestClient) -> None:
    page = auditor.get(f"/decisions/{uuid.uuid4()}")
    assert page.status_code == 404 and "Not found" in page.text


def test_when_scoring_is_down_the_page_names_it(world: World, auditor: TestClient) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    app = cast(Any, auditor.app)
    working = app.state.http["scoring"]
    app.state.http["scoring"] = httpx.Client(
        base_url="http://scoring.test", transport=httpx.MockTransport(refuse)
    )
    try:
        page = auditor.get("/decisions")
    finally:
        app.state.http["scoring"].close()
        app.state.http["scoring"] = working
    assert page.status_code == 503
    assert "The scoring service is not answering" in page.text
