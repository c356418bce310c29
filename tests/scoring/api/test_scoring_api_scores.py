"""POST /v1/scores and reading decisions back: exact points, reasons, grades, storage, audit."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import factory.random
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.scoring.domain.scale import GRADE_CUTOFFS, ScoreScale, grade_for
from services.scoring.models import Decision
from services.scoring.repository.specs import load_segment_spec
from shared.audit import audit_entries, verify_chain
from shared.auth import Role
from shared.crypto import sha256_hex
from shared.platform import ServiceContext
from tests.factories.scoring import FEATURE_FACTORIES, ScoreRequestFactory
from tests.scoring.kit import post_score
from tests.support import count_rows

Headers = Callable[[Role], dict[str, str]]


@pytest.mark.parametrize("segment", ["farmer", "enterprise"])
def test_points_add_up_to_the_score_for_many_random_applicants(
    client: TestClient, headers: Headers, segment: str
) -> None:
    factory.random.reseed_random(f"additivity-{segment}")
    spec = load_segment_spec(segment)
    scale = ScoreScale()
    officer = headers(Role.LOAN_OFFICER)
    for _ in range(40):
        body = ScoreRequestFactory(segment=segment, features=FEATURE_FACTORIES[segment]())
        out = post_score(client, officer, body)
        points = [c["points"] for c in out["contributions"]]
        assert [c["feature"] for c in out["contributions"]] == spec.feature_names
        assert [c["value"] for c in out["contributions"]] == [body["features"][n] for n in spec.feature_names]
        assert out["base_points"] + math.fsum(points) == pytest.approx(out["score"], rel=0, abs=1e-9)
        assert out["pd"] == pytest.approx(1 / (1 + math.exp(-scale.margin(out["score"]))), rel=1e-9)
        assert out["grade"] == grade_for(out["score"])
        costly = sorted((p, i) for i, p in enumerate(points) if p < 0)[:4]
        assert [r["feature"] for r in out["reasons"]] == [spec.feature_names[i] for _, i in costly]
        assert all(r["points"] < 0 for r in out["reasons"]) and len(out["reasons"]) <= 4
        assert all(r["code"] == spec.feature(r["feature"]).reason_code for r in out["reasons"])


def test_decision_hint_follows_the_documented_thresholds(client: TestClient, headers: Headers) -> None:
    factory.random.reseed_random("hints")
    seen = set()
    for _ in range(40):
        out = post_score(client, headers(Role.SERVICE), ScoreRequestFactory())
        expected = "approve" if out["score"] >= 580 else "decline" if out["score"] < 520 else "review"
        assert out["decision_hint"] == expected
        seen.add(expected)
    assert len(seen) >= 2
    assert [g for g, _ in GRADE_CUTOFFS] == ["A", "B", "C", "D"]


def test_a_decision_is_stored_audited_and_emitted(
    client: TestClient, ctx: ServiceContext, headers: Headers, champions: dict[str, str]
) -> None:
    out = post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory(subject_id="farmer-42"))
    assert out["model_version"] == champions["farmer"]
    assert set(out["receipt"]) == {"alg", "key_id", "payload", "signature"}
    assert count_rows(ctx, Decision.__table__) == 1
    with ctx.db.unit_of_work(read_only=True) as session:
        entries = audit_entries(session, ctx.tables, subject=f"score:{out['id']}")
        assert verify_chain(session, ctx.tables, ctx.keyring).ok
    assert [e["action"] for e in entries] == ["score.created"]
    assert entries[0]["payload"]["receipt_payload_sha256"] == sha256_hex(out["receipt"]["payload"])
    with ctx.db.unit_of_work(read_only=True) as session:
        topics = session.scalars(select(ctx.tables.outbox.c.topic)).all()
    assert topics.count("score.created") == 1

    stored = client.get(f"/v1/scores/{out['id']}", headers=headers(Role.AUDITOR))
    assert stored.status_code == 200 and stored.json() == out
    listed = client.get("/v1/scores", params={"subject_id": "farmer-42"}, headers=headers(Role.AUDITOR))
    assert [s["id"] for s in listed.json()["scores"]] == [out["id"]]
    assert client.get(
        "/v1/scores", params={"subject_id": "nobody"}, headers=headers(Role.AUDITOR)
    ).json() == {"scores": [], "limit": 50, "offset": 0, "next_offset": None}
    assert client.get("/v1/scores/no-such-id", headers=headers(Role.AUDITOR)).status_code == 404


def test_reason_texts_in_chinese_by_query_or_accept_language(client: TestClient, headers: Headers) -> None:
    spec = load_segment_spec("farmer")
    factory.random.reseed_random("lang")
    body = ScoreRequestFactory()
    english = post_score(client, headers(Role.LOAN_OFFICER), body)
    assert english["reasons"], "the sample applicant should lose points somewhere"
    by_query = post_score(client, headers(Role.LOAN_OFFICER), body, lang="zh")
    zh_first = {**headers(Role.LOAN_OFFICER), "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    by_header = client.post("/v1/scores", json=body, headers=zh_first)
    for out in (by_query, by_header.json()):
        assert [r["text"] for r in out["reasons"]] == [
            spec.feature(r["feature"]).reason("zh") for r in out["reasons"]
        ]
    assert [r["text"] for r in english["reasons"]] == [
        spec.feature(r["feature"]).reason("en") for r in english["reasons"]
    ]
    again = client.get(f"/v1/scores/{english['id']}", params={"lang": "zh"}, headers=headers(Role.AUDITOR))
    assert again.json()["reasons"][0]["text"] == spec.feature(english["reasons"][0]["feature"]).reason("zh")


def test_idempotency_key_replays_the_same_decision(
    client: TestClient, ctx: ServiceContext, headers: Headers
) -> None:
    factory.random.reseed_random("idem")
    body = ScoreRequestFactory()
    hdrs = {**headers(Role.SERVICE), "Idempotency-Key": "loans-application-1"}
    first = client.post("/v1/scores", json=body, headers=hdrs)
    second = client.post("/v1/scores", json=body, headers=hdrs)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    assert count_rows(ctx, Decision.__table__) == 1


@pytest.mark.parametrize("segment", ["farmer", "enterprise"])
def test_monotone_constraints_hold_through_the_api(
    client: TestClient, headers: Headers, segment: str
) -> None:
    spec = load_segment_spec(segment)
    segment_doc = client.get(f"/v1/segments/{segment}", headers=headers(Role.LOAN_OFFICER)).json()
    officer = headers(Role.LOAN_OFFICER)
    for f in spec.features:
        if f.monotone == 0:
            continue
        if f.type == "boolean":
            values: list[object] = [False, True]
        else:
            lo = f.min or 0.0
            hi = min(f.max or 1.0, lo + 10 * (abs(spec.example[f.name] or 1) + 1))
            values = [lo + (hi - lo) * k / 5 for k in range(6)]
        scores = []
        for value in values:
            body = {
                "segment": segment,
                "subject_id": f"mono-{f.name}",
                "features": {**segment_doc["example"], f.name: value},
            }
            scores.append(post_score(client, officer, body)["score"])
        steps = [b - a for a, b in itertools.pairwise(scores)]
        assert all(f.monotone * step >= -1e-9 for step in steps), (f.name, scores)


def test_concurrent_requests_share_the_model_cache_and_agree_bit_for_bit(
    client: TestClient, ctx: ServiceContext, headers: Headers
) -> None:
    factory.random.reseed_random("concurrent")
    bodies = [
        ScoreRequestFactory(segment=segment, features=FEATURE_FACTORIES[segment]())
        for segment in ("farmer", "enterprise")
    ]
    officer = headers(Role.LOAN_OFFICER)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: post_score(client, officer, bodies[i % 2]), range(24)))
    for i, out in enumerate(results):
        reference = results[i % 2]
        assert out["score"].hex() == reference["score"].hex()
        points = [c["points"] for c in out["contributions"]]
        assert points == [c["points"] for c in reference["contributions"]]
    assert count_rows(ctx, Decision.__table__) == 24
