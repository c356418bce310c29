"""Training on uploaded data through the API: upload → train (a worker job) → poll → score; the
errors name the column and rows and register nothing; Idempotency-Key replays of a multipart POST."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from fastapi.testclient import TestClient

from services.scoring import jobs as scoring_jobs
from services.scoring.domain.spec import spec_to_dict
from services.scoring.domain.synthetic import generate
from services.scoring.models import ModelVersion, TrainingUpload
from services.scoring.repository.specs import builtin_spec
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.jobs import enqueue_job, run_queued_jobs
from tests.scoring.kit import post_score
from tests.support import assert_problem as problem
from tests.support import count_rows

Headers = Callable[[Role], dict[str, str]]
SEGMENT = "smallholders"
ROWS = 800


def _spec(**changes: Any) -> dict[str, Any]:
    """The farmer spec as a new segment's (a lender's own spec)."""
    return {**spec_to_dict(builtin_spec("farmer")), "segment": SEGMENT, "target": "bad", **changes}


def _frame(rows: int = ROWS, seed: int = 21) -> pd.DataFrame:
    return generate("farmer", rows, seed).rename(columns={"default": "bad"})


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _models(ctx: ScoringContext) -> int:
    return count_rows(ctx, ModelVersion.__table__)


def _uploads(ctx: ScoringContext) -> int:
    return count_rows(ctx, TrainingUpload.__table__)


def _run_jobs(ctx: ScoringContext) -> int:
    return run_queued_jobs(ctx, scoring_jobs.job_handlers(ctx))


def _upload(client: TestClient, headers: Headers, content: bytes, name: str = "book.csv") -> Any:
    return client.post(
        "/v1/training-data", files={"file": (name, content)}, headers=headers(Role.CREDIT_MANAGER)
    )


def _poll(client: TestClient, headers: Headers, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/training-jobs/{job_id}", headers=headers(Role.AUDITOR))
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def test_upload_train_poll_and_score(
    client: TestClient, ctx: ScoringContext, headers: Headers, champions: dict[str, str]
) -> None:
    content = _csv(_frame())
    uploaded = _upload(client, headers, content)
    assert uploaded.status_code == 201, uploaded.text
    meta = uploaded.json()
    assert meta["filename"] == "book.csv" and meta["bytes"] == len(content) and meta["format"] == "csv"
    assert meta["columns"] == list(_frame().columns) and len(meta["sha256"]) == 64
    assert client.get(meta["href"], headers=headers(Role.AUDITOR)).json() == meta
    problem(client.get("/v1/training-data/nope", headers=headers(Role.AUDITOR)), 404)

    body = {"training_data_id": meta["id"], "spec": yaml.safe_dump(_spec()), "target": "bad", "seed": 4}
    response = client.post("/v1/models/train", json=body, headers=headers(Role.CREDIT_MANAGER))
    assert response.status_code == 202, response.text
    job = response.json()
    assert (job["kind"], job["status"]) == ("scoring.train_upload", "queued")
    queued = _poll(client, headers, job["job_id"])
    assert queued["status"] == "queued" and queued["result"] is None and queued["error"] is None
    assert _models(ctx) == 2  # nothing trained in the request: the champions only

    assert _run_jobs(ctx) == 1
    done = _poll(client, headers, job["job_id"])
    assert done["status"] == "succeeded" and done["error"] is None, done
    assert done["stage"] == "registered" and 0 < done["rounds"]["done"] <= done["rounds"]["total"]
    model = done["result"]
    assert model["version"] == f"{SEGMENT}-v1" and model["status"] == "champion"
    assert model["data_source"] == f"upload:{meta['id']}:book.csv"
    assert client.get(f"/v1/models/{model['version']}", headers=headers(Role.AUDITOR)).status_code == 200

    example = client.get(f"/v1/segments/{SEGMENT}", headers=headers(Role.LOAN_OFFICER)).json()["example"]
    scored = post_score(
        client, headers(Role.LOAN_OFFICER), {"segment": SEGMENT, "subject_id": "s-1", "features": example}
    )
    assert scored["model_version"] == model["version"]


def test_multipart_train_with_the_spec_as_a_file_and_tuning(
    client: TestClient, ctx: ScoringContext, headers: Headers, champions: dict[str, str]
) -> None:
    frame = _frame(600, 5)
    frame["bad"] = frame["bad"].map({0: "good", 1: "bad"})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    response = client.post(
        "/v1/models/train",
        files={"file": ("book.parquet", sink.getvalue()), "spec": ("spec.yaml", yaml.safe_dump(_spec()))},
        data={"target": "bad", "bad_value": "bad", "tune": "2", "cv_folds": "2", "seed": "1"},
        headers=headers(Role.ADMIN),
    )
    assert response.status_code == 202, response.text
    assert _uploads(ctx) == 1
    assert _run_jobs(ctx) == 1
    done = _poll(client, headers, response.json()["job_id"])
    assert done["status"] == "succeeded", done
    assert (done["trial"], done["trials"]) == (2, 2) and done["folds"] == 2
    detail = client.get(f"/v1/models/{done['result']['version']}", headers=headers(Role.AUDITOR)).json()
    cv = detail["metrics"]["cv"]
    assert len(cv["auc"]) == 2 and {"auc_mean", "auc_std"} <= set(cv)
    assert detail["metrics"]["tuning"]


@pytest.mark.parametrize(
    ("broken", "column", "rows", "words"),
    [
        ("unknown category", "main_crop", [3, 8], "durian"),
        ("target not 0/1", "bad", [5], "0/1"),
        ("too few rows", None, [], "at least 200 rows"),
    ],
)
def test_bad_data_fails_the_job_in_plain_words_and_registers_nothing(
    client: TestClient,
    ctx: ScoringContext,
    headers: Headers,
    champions: dict[str, str],
    broken: str,
    column: str | None,
    rows: list[int],
    words: str,
) -> None:
    frame = _frame(150 if broken == "too few rows" else 500, 9)
    if broken == "unknown category":
        frame["main_crop"] = frame["main_crop"].astype(object)
        frame.loc[[2, 7], "main_crop"] = "durian"  # data rows 3 and 8
    elif broken == "target not 0/1":
        frame.loc[4, "bad"] = 2
    response = client.post(
        "/v1/models/train",
        files={"file": ("book.csv", _csv(frame))},
        data={"spec": yaml.safe_dump(_spec()), "target": "bad"},
        headers=headers(Role.CREDIT_MANAGER),
    )
    assert response.status_code == 202, response.text
    assert _run_jobs(ctx) == 1
    failed = _poll(client, headers, response.json()["job_id"])
    assert failed["status"] == "failed" and failed["result"] is None
    assert words in failed["error"]["detail"], failed
    assert (failed["error"]["column"], failed["error"]["rows"]) == (column, rows)
    if column is not None:
        assert column in failed["error"]["detail"]
    assert _models(ctx) == 2  # the champions only


def test_requests_that_cannot_train_are_refused_and_store_nothing(
    client: TestClient, ctx: ScoringContext, headers: Headers, champions: dict[str, str]
) -> None:
    manager = headers(Role.CREDIT_MANAGER)
    content = _csv(_frame(300, 2))

    def train(**fields: str) -> dict[str, Any]:
        data = {"spec": yaml.safe_dump(_spec()), "target": "bad", **fields}
        sent = client.post("/v1/models/train", files={"file": ("b.csv", content)}, data=data, headers=manager)
        return problem(sent, 422)

    assert train(target="outcome")["errors"][0]["field"] == "target"  # not in the header
    assert "outcome" in train(target="outcome")["detail"]
    assert train(target="land_area_ha")["errors"][0]["field"] == "target"  # a feature
    assert train(segment="Bad Name")["errors"][0]["field"] == "segment"
    assert train(cv_folds="1")["errors"][0]["field"] == "cv_folds"
    no_reason = _spec()
    del no_reason["features"][2]["reason"]
    refused = train(spec=yaml.safe_dump(no_reason))
    assert refused["errors"][0]["field"] == "spec.features[2].reason"
    assert train(spec="segment: [unclosed")["errors"][0]["field"] == "spec"
    missing = client.post(
        "/v1/models/train",
        json={"training_data_id": "nope", "spec": _spec(), "target": "bad"},
        headers=manager,
    )
    assert problem(missing, 422)["errors"][0]["field"] == "training_data_id"
    assert (_uploads(ctx), _models(ctx)) == (0, 2)
    assert count_rows(ctx, ctx.tables.jobs) == 0


def test_unusable_uploads_are_refused_and_nothing_is_stored(
    client: TestClient, ctx: ScoringContext, headers: Headers, champions: dict[str, str]
) -> None:
    duplicated = b"bad,land_area_ha,main_crop,land_area_ha\n0,1.5,maize,2.0\n"
    refused = problem(_upload(client, headers, duplicated), 422)
    assert refused["errors"][0]["field"] == "file" and "land_area_ha" in refused["detail"]
    assert ".csv or .parquet" in problem(_upload(client, headers, b"a,b\n1,2\n", "book.xlsx"), 422)["detail"]
    assert "Parquet" in problem(_upload(client, headers, b"not parquet", "book.parquet"), 422)["detail"]
    assert "UTF-8" in problem(_upload(client, headers, b"\xff\xfe\x00a", "book.csv"), 422)["detail"]
    assert "empty" in problem(_upload(client, headers, b"", "book.csv"), 422)["detail"]
    ctx.settings.training_upload_max_bytes = 2048
    too_big = problem(_upload(client, headers, _csv(_frame(300, 3))), 413)
    assert "2048" in too_big["detail"]
    # without a valid key the body is never read: a 401, not the 413 its size would earn
    for anonymous in ({}, {"Authorization": "Bearer not-a-key"}):
        big = client.post(
            "/v1/training-data", files={"file": ("a.csv", _csv(_frame(300, 3)))}, headers=anonymous
        )
        problem(big, 401)
    as_json = client.post("/v1/training-data", json={"file": "x"}, headers=headers(Role.CREDIT_MANAGER))
    problem(as_json, 415)
    for role in (Role.LOAN_OFFICER, Role.AUDITOR, Role.MARKETPLACE):
        problem(
            client.post("/v1/training-data", files={"file": ("a.csv", b"a\n1\n")}, headers=headers(role)), 403
        )
    assert _uploads(ctx) == 0


def test_a_multipart_train_post_replays_under_its_idempotency_key(
    client: TestClient, ctx: ScoringContext, headers: Headers, champions: dict[str, str]
) -> None:
    keyed = {**headers(Role.CREDIT_MANAGER), "Idempotency-Key": "train-book-1"}
    content = _csv(_frame(400, 4))
    data = {"spec": yaml.safe_dump(_spec()), "target": "bad"}

    def send(body: bytes, **fields: str) -> Any:
        return client.post(
            "/v1/models/train", files={"file": ("b.csv", body)}, data={**data, **fields}, headers=keyed
        )

    first = send(content)
    assert first.status_code == 202, first.text
    again = send(content)  # another multipart boundary, the same request
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["job_id"] == first.json()["job_id"]
    problem(send(content + b"0,1\n"), 422)  # another file under the same key
    problem(send(content, seed="3"), 422)  # another field under the same key
    assert _uploads(ctx) == 1 and count_rows(ctx, ctx.tables.jobs) == 1

    upload_key = {**headers(Role.CREDIT_MANAGER), "Idempotency-Key": "upload-book-1"}
    stored = client.post("/v1/training-data", files={"file": ("c.csv", content)}, headers=upload_key)
    replayed = client.post("/v1/training-data", files={"file": ("c.csv", content)}, headers=upload_key)
    assert stored.status_code == replayed.status_code == 201 and replayed.json() == stored.json()
    other = client.post("/v1/training-data", files={"file": ("d.csv", content)}, headers=upload_key)
    problem(other, 422)  # another file name under the same key
    assert _uploads(ctx) == 2


def test_training_jobs_shows_only_training_jobs(
    client: TestClient, ctx: ScoringContext, headers: Headers, champions: dict[str, str]
) -> None:
    with ctx.db.unit_of_work() as session:
        other = enqueue_job(session, ctx, kind="scoring.something_else", payload={}, actor="test")
    problem(client.get(f"/v1/training-jobs/{other.job_id}", headers=headers(Role.AUDITOR)), 404)
    problem(client.get("/v1/training-jobs/nope", headers=headers(Role.AUDITOR)), 404)
    synthetic = client.post(
        "/v1/models/train", json={"segment": "farmer", "rows": 1000, "seed": 1}, headers=headers(Role.ADMIN)
    ).json()
    shown = _poll(client, headers, synthetic["job_id"])
    assert (shown["kind"], shown["status"], shown["href"]) == (
        "scoring.train",
        "queued",
        f"/v1/training-jobs/{synthetic['job_id']}",
    )
    problem(client.get(f"/v1/training-jobs/{synthetic['job_id']}", headers=headers(Role.LOAN_OFFICER)), 403)


def test_malformed_forms_are_problems_not_errors(
    client: TestClient, ctx: ScoringContext, headers: Headers, champions: dict[str, str]
) -> None:
    manager = headers(Role.CREDIT_MANAGER)
    garbage = client.post(
        "/v1/models/train",
        content=b"--x\r\nnot a part",
        headers={**manager, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert "multipart" in problem(garbage, 400)["detail"]
    twice = {"target": ["bad", "default"]}
    refused = client.post(
        "/v1/models/train", files={"file": ("b.csv", b"a\n1\n")}, data=twice, headers=manager
    )
    assert problem(refused, 422)["errors"][0]["field"] == "target"
    binary_spec = {"file": ("b.csv", b"a\n1\n"), "spec": ("s.yaml", b"\xff\xfe")}
    refused = client.post("/v1/models/train", files=binary_spec, data={"target": "a"}, headers=manager)
    assert problem(refused, 422)["errors"][0]["field"] == "spec"
    nul = client.post(
        "/v1/models/train", files={"file": ("b.csv", b"a\n1\n")}, data={"target": "a\x00"}, headers=manager
    )
    problem(nul, 422)
    assert (_uploads(ctx), count_rows(ctx, ctx.tables.jobs)) == (0, 0)
