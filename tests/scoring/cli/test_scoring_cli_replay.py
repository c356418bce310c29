"""``agrifin replay`` offline (no service, no database) and docs/receipts.md's ten-line snippet.

The saved files are what an auditor downloads: the score answer, ``GET /v1/keys``, the model
file (``GET /v1/models/{version}/artifact``) and the features scored. The commands run in
subprocesses whose database and keys directory do not exist, after the app is gone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import factory.random
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import app as cli_app
from shared.auth import Role
from shared.crypto import canonical_json
from tests.factories.scoring import ScoreRequestFactory
from tests.scoring.kit import post_score

Headers = Callable[[Role], dict[str, str]]
ROOT = Path(__file__).resolve().parents[3]
AGRIFIN = Path(sys.executable).parent / "agrifin"
SNIPPET_MARKER = "<!-- replay-snippet"
SERVER_MODULES = ("sqlalchemy", "fastapi", "starlette", "httpx", "psycopg", "uvicorn")


def _save(directory: Path, name: str, document: Any) -> Path:
    path = directory / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def saved(client: TestClient, headers: Headers, tmp_path: Path) -> dict[str, Path]:
    """One real decision's files, as an auditor saves them."""
    factory.random.reseed_random("offline-replay")
    request = ScoreRequestFactory()
    made = post_score(client, headers(Role.LOAN_OFFICER), request)
    auditor = headers(Role.AUDITOR)
    answer = client.get(f"/v1/scores/{made['id']}", headers=auditor).json()
    bundle = client.get(f"/v1/models/{answer['model_version']}/artifact", headers=auditor).json()
    other = "enterprise" if answer["segment"] == "farmer" else "farmer"
    other_version = client.get("/v1/models", params={"segment": other}, headers=auditor).json()["models"][0]
    other_bundle = client.get(f"/v1/models/{other_version['version']}/artifact", headers=auditor).json()
    directory = tmp_path / "saved"
    directory.mkdir()
    return {
        "score": _save(directory, "score.json", answer),
        "keys": _save(directory, "keys.json", client.get("/v1/keys").json()),
        "model": _save(directory, "model.json", bundle),
        "features": _save(directory, "features.json", request["features"]),
        "request": _save(directory, "request.json", request),
        "other_model": _save(directory, "other-model.json", other_bundle),
    }


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """No database, no keys directory, no service to reach."""
    nowhere = tmp_path / "nowhere"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    return {
        **env,
        "AGRIFIN_VAR_DIR": str(nowhere / "var"),
        "AGRIFIN_KEYS_DIR": str(nowhere / "keys"),
        "AGRIFIN_SCORING_DATABASE_URL": f"sqlite:///{nowhere / 'missing' / 'scoring.db'}",
        "AGRIFIN_SCORING_URL": "http://127.0.0.1:9",
    }


def _args(saved: dict[str, Path], **files: Path) -> list[str]:
    chosen = {**{k: saved[k] for k in ("score", "features", "model", "keys")}, **files}
    return [arg for key, path in chosen.items() for arg in (f"--{key}", str(path))]


def test_agrifin_replay_is_identical_with_no_service_and_no_database(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(AGRIFIN), "replay", *_args(saved)],
        capture_output=True, text=True, env=_offline_env(tmp_path), cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["identical"] is True and out["differences"] == []
    assert out["receipt"]["valid"] is True and out["receipt"]["receipt_version"] == 2
    answer = json.loads(saved["score"].read_text())
    assert out["score_id"] == answer["id"] and out["replayed"]["score"] == answer["score"]
    assert out["replayed"]["integer_points"] == {
        c["feature"]: c["integer_points"] for c in answer["contributions"]
    }
    assert not (tmp_path / "nowhere").exists()  # nothing was created: no database, no keys


def test_the_replay_command_imports_no_server_library(saved: dict[str, Path], tmp_path: Path) -> None:
    script = (
        "import json, sys, typer\n"
        "from services.scoring.cli_receipts import replay\n"
        "app = typer.Typer()\n"
        "app.command()(replay)\n"
        "try:\n"
        "    app(sys.argv[1:])\n"
        "finally:\n"
        f"    leaked = sorted({{m.split('.')[0] for m in sys.modules}} & set({SERVER_MODULES!r}))\n"
        "    print('LEAKED=' + json.dumps(leaked), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *_args(saved)],
        capture_output=True, text=True, env=_offline_env(tmp_path), cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LEAKED=[]" in done.stderr, done.stderr
    assert json.loads(done.stdout)["identical"] is True


def _replay(saved: dict[str, Path], **files: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli_app, ["replay", *_args(saved, **files)])
    return result.exit_code, json.loads(result.output)


def _fields(out: dict[str, Any]) -> set[str]:
    return {d["field"] for d in out["differences"]}


def test_replay_reads_the_features_from_a_score_request_too(saved: dict[str, Path]) -> None:
    code, out = _replay(saved, features=saved["request"])
    assert code == 0 and out["identical"] is True, out["differences"]


def test_replay_names_other_features_another_model_and_an_edited_answer(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    features = json.loads(saved["features"].read_text())
    features["years_farming"] = 59 if features.get("years_farming", 0) < 30 else 0
    code, out = _replay(saved, features=_save(tmp_path, "other-features.json", features))
    assert code == 1 and out["identical"] is False
    assert "features_sha256" in _fields(out) and "contributions.years_farming" in _fields(out)

    code, out = _replay(saved, model=saved["other_model"])
    assert code == 1 and "model_sha256" in _fields(out)

    answer = json.loads(saved["score"].read_text())
    edited = {**answer, "score": answer["score"] + 1.0}
    code, out = _replay(saved, score=_save(tmp_path, "edited.json", edited))
    assert code == 1 and {"receipt", "score"} <= _fields(out)
    assert out["receipt"]["reason"] == "response field 'score' differs from the signed payload"

    payload = json.loads(answer["receipt"]["payload"])
    forged_payload = canonical_json({**payload, "grade": "A" if payload["grade"] != "A" else "B"})
    forged = {**answer, "receipt": {**answer["receipt"], "payload": forged_payload}}
    code, out = _replay(saved, score=_save(tmp_path, "forged.json", forged))
    assert code == 1 and out["receipt"]["reason"] == "signature does not verify"


def test_replay_of_unreadable_files_says_so(saved: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, out = _replay(saved, model=broken)
    assert code == 1 and out["identical"] is False and out["differences"][0]["field"] == "input"
    code, out = _replay(saved, model=saved["score"])  # a JSON object, but no model file
    assert code == 1 and "model" in _fields(out)


# --- docs/receipts.md: the ten lines with only lightgbm and cryptography ---------------------------


def documented_snippet() -> str:
    """The Python block after the replay-snippet marker of docs/receipts.md, exactly as written."""
    text = (ROOT / "docs" / "receipts.md").read_text(encoding="utf-8")
    after = text[text.index(SNIPPET_MARKER) :]
    match = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert match is not None, "docs/receipts.md lost its replay snippet"
    return match.group(1)


def _run_snippet(directory: Path) -> subprocess.CompletedProcess[str]:
    guard = (  # only lightgbm and cryptography (and the standard library): nothing of agrifin
        "\nimport sys\n"
        "assert not {m.split('.')[0] for m in sys.modules} & {'services', 'shared', 'rfc8785'}\n"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", documented_snippet() + guard],
        capture_output=True, text=True, cwd=directory, timeout=120, check=False,
    )  # fmt: skip


def test_the_documented_snippet_is_ten_lines_and_replays_a_real_decision(saved: dict[str, Path]) -> None:
    assert len(documented_snippet().strip().splitlines()) <= 10
    done = _run_snippet(saved["score"].parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "identical\n"


def test_the_documented_snippet_fails_on_a_forgery_or_other_features(saved: dict[str, Path]) -> None:
    directory = saved["score"].parent
    answer = json.loads(saved["score"].read_text())
    features = json.loads(saved["features"].read_text())
    payload = answer["receipt"]["payload"]
    altered = payload.replace('"integer_score":', '"integer_score":1', 1)  # a point more, unsigned
    assert altered != payload
    _save(directory, "score.json", {**answer, "receipt": {**answer["receipt"], "payload": altered}})
    done = _run_snippet(directory)
    assert done.returncode != 0 and "InvalidSignature" in done.stderr
    _save(directory, "score.json", answer)
    features["years_farming"] = 59 if features.get("years_farming", 0) < 30 else 0
    _save(directory, "features.json", features)
    done = _run_snippet(directory)
    assert done.returncode != 0 and "AssertionError" in done.stderr


def test_replay_of_a_bare_receipt_compares_with_what_it_signs(saved: dict[str, Path], tmp_path: Path) -> None:
    answer = json.loads(saved["score"].read_text())
    code, out = _replay(saved, score=_save(tmp_path, "receipt.json", answer["receipt"]))
    assert code == 0 and out["identical"] is True, out["differences"]
    headless = {k: v for k, v in answer.items() if k != "contributions"}
    code, out = _replay(saved, score=_save(tmp_path, "headless.json", headless))
    assert code == 1 and "score" in _fields(out)
