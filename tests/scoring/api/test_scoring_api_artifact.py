"""GET /v1/models/{version}/artifact: the one model file a replay needs (auditor and admin)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.replay import ARTIFACT_BUNDLE_FORMAT, model_from_bundle
from shared.auth import Role
from shared.crypto import sha256_hex
from tests.support import assert_problem

Headers = Callable[[Role], dict[str, str]]


def test_auditors_and_admins_download_the_model_file(
    client: TestClient, headers: Headers, champions: dict[str, str], trained_models: dict[str, TrainedModel]
) -> None:
    version = champions["farmer"]
    for role in (Role.AUDITOR, Role.ADMIN):
        response = client.get(f"/v1/models/{version}/artifact", headers=headers(role))
        assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == f'attachment; filename="{version}.model.json"'
    bundle = response.json()
    trained = trained_models["farmer"]
    assert response.headers["etag"] == f'"{trained.artifact_sha256}"'
    assert set(bundle) == {"format", "model_version", "segment", "artifact_sha256", "model_text", "metadata"}
    assert bundle["format"] == ARTIFACT_BUNDLE_FORMAT and bundle["model_version"] == version
    assert sha256_hex(bundle["model_text"]) == bundle["artifact_sha256"] == trained.artifact_sha256
    assert bundle["metadata"]["calibration"]["a"] == trained.calibration_a
    assert bundle["metadata"]["reference_values"] == trained.metadata["reference_values"]
    model = model_from_bundle(bundle)  # what `agrifin replay --model` reads: the same model, exactly
    example = dict(trained.spec.example)
    assert explain_applicant(model, example) == explain_applicant(trained, example)


def test_a_matching_etag_is_not_modified(
    client: TestClient, headers: Headers, champions: dict[str, str]
) -> None:
    url = f"/v1/models/{champions['enterprise']}/artifact"
    etag = client.get(url, headers=headers(Role.AUDITOR)).headers["etag"]
    again = client.get(url, headers={**headers(Role.AUDITOR), "If-None-Match": f'"other", {etag}'})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(url, headers={**headers(Role.AUDITOR), "If-None-Match": '"other"'}).status_code == 200


def test_other_roles_may_not_and_an_unknown_version_is_a_404(
    client: TestClient, headers: Headers, champions: dict[str, str]
) -> None:
    url = f"/v1/models/{champions['farmer']}/artifact"
    for role in (Role.LOAN_OFFICER, Role.CREDIT_MANAGER, Role.MARKETPLACE, Role.SERVICE):
        assert_problem(client.get(url, headers=headers(role)), 403)
    assert_problem(client.get(url), 401)
    body = assert_problem(client.get("/v1/models/farmer-v999/artifact", headers=headers(Role.AUDITOR)), 404)
    assert "farmer-v999" in body["detail"]


def test_a_file_that_is_not_a_model_file_is_refused(
    client: TestClient, headers: Headers, champions: dict[str, str]
) -> None:
    bundle = client.get(f"/v1/models/{champions['farmer']}/artifact", headers=headers(Role.ADMIN)).json()
    for broken, why in [
        ({**bundle, "format": "x"}, "not an agrifin-model-artifact/1 model file"),
        ({**bundle, "model_text": bundle["model_text"] + "\n"}, "does not match"),
        ({**bundle, "artifact_sha256": "0" * 64}, "does not match"),
    ]:
        with pytest.raises(ValueError, match=why):
            model_from_bundle(json.loads(json.dumps(broken)))
