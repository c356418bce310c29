"""Commands: bring-your-own-data training (then scoring it via the API), score-batch, bootstrap."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import app as cli_app
from services.scoring.app import create_app
from services.scoring.bootstrap import bootstrap
from services.scoring.models import ModelVersion
from shared.auth import Role
from shared.platform import ServiceContext
from tests.scoring.kit import post_score
from tests.support import count_rows

Headers = Callable[[Role], dict[str, str]]

ORCHARD_SPEC = {
    "segment": "orchards",
    "target": "bad",
    "version": "0.1.0",
    "description": "Fruit orchards (a spec brought with its own data).",
    "features": [
        {
            "name": "trees",
            "type": "numeric",
            "unit": "count",
            "min": 0,
            "max": 100000,
            "missing_allowed": False,
            "monotone": 1,
            "reason": {"code": "O1", "en": "Few productive trees", "zh": "果树数量少"},
        },
        {
            "name": "years_since_planting",
            "type": "numeric",
            "unit": "years",
            "min": 0,
            "max": 100,
            "missing_allowed": True,
            "monotone": 0,
            "reason": {"code": "O2", "en": "Orchard age", "zh": "果园树龄"},
        },
        {
            "name": "variety",
            "type": "categorical",
            "unit": "category",
            "categories": ["apple", "citrus", "mango", "other"],
            "missing_allowed": False,
            "monotone": 0,
            "reason": {"code": "O3", "en": "Variety with volatile prices", "zh": "品种价格波动大"},
        },
        {
            "name": "certified_organic",
            "type": "boolean",
            "unit": "flag",
            "missing_allowed": False,
            "monotone": 1,
            "reason": {"code": "O4", "en": "Not certified organic", "zh": "未获有机认证"},
        },
    ],
}


def _cli_env(ctx: ServiceContext, keys_dir: Path) -> dict[str, str]:
    return {
        "AGRIFIN_VAR_DIR": str(ctx.settings.var_dir),
        "AGRIFIN_KEYS_DIR": str(keys_dir),
        "AGRIFIN_SCORING_DATABASE_URL": ctx.db.url,
        "AGRIFIN_ENV": "test",
    }


def _invoke(args: list[str], env: dict[str, str]) -> Any:
    result = CliRunner().invoke(cli_app, args, env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _orchard_data(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    trees = rng.integers(10, 3000, rows)
    age = np.where(rng.random(rows) < 0.1, np.nan, rng.integers(1, 40, rows).astype(float))
    variety = rng.choice(["apple", "citrus", "mango", "other"], rows)
    organic = rng.random(rows) < 0.3
    z = -1.0 - 0.6 * np.log(trees / 300) + 0.5 * (variety == "mango") - 0.7 * organic
    bad = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(int)
    return pd.DataFrame(
        {
            "orchard_id": [f"o-{i}" for i in range(rows)],
            "trees": trees,
            "years_since_planting": age,
            "variety": variety,
            "certified_organic": organic,
            "bad": bad,
        }
    )


def test_bring_your_own_data_trains_a_new_segment_scorable_via_the_api(
    client: TestClient, ctx: ServiceContext, headers: Headers, tmp_path: Path, keys_dir: Path
) -> None:
    spec_file, data_file = tmp_path / "orchards.yaml", tmp_path / "orchards.csv"
    spec_file.write_text(yaml.safe_dump(ORCHARD_SPEC))
    _orchard_data(2500, 5).to_csv(data_file, index=False)
    env = _cli_env(ctx, keys_dir)

    report = json.loads(
        _invoke(
            ["train", "--spec", str(spec_file), "--data", str(data_file), "--target", "bad", "--seed", "2"],
            env,
        ).stdout
    )
    assert report["version"] == "orchards-v1" and report["status"] == "champion"
    assert report["metrics"]["test"]["auc"] > 0.6 and report["rows"] == 2500
    again = json.loads(
        _invoke(
            [
                "train",
                "--spec",
                str(spec_file),
                "--data",
                str(data_file),
                "--target",
                "bad",
                "--seed",
                "2",
                "--segment",
                "orchards",
                "--cv-folds",
                "3",
            ],
            env,
        ).stdout
    )
    assert again["status"] == "challenger" and again["artifact_sha256"] == report["artifact_sha256"]
    assert "cv" not in report["metrics"]
    assert again["metrics"]["cv"]["folds"] == 3 and len(again["metrics"]["cv"]["auc"]) == 3

    listed = client.get("/v1/segments", headers=headers(Role.LOAN_OFFICER)).json()["segments"]
    orchards = next(s for s in listed if s["segment"] == "orchards")
    assert orchards == {
        "segment": "orchards",
        "source": "registered",
        "features": 4,
        "description": ORCHARD_SPEC["description"],
        "champion_version": "orchards-v1",
    }
    detail = client.get("/v1/segments/orchards", headers=headers(Role.LOAN_OFFICER)).json()
    assert [f["name"] for f in detail["features"]] == [
        "trees",
        "years_since_planting",
        "variety",
        "certified_organic",
    ]
    scored = post_score(
        client,
        headers(Role.LOAN_OFFICER),
        {"segment": "orchards", "subject_id": "orchard-1", "features": detail["example"]},
    )
    assert scored["model_version"] == "orchards-v1"
    assert scored["base_points"] + sum(c["points"] for c in scored["contributions"]) == pytest.approx(
        scored["score"], abs=1e-9
    )
    weak = {"trees": 20, "years_since_planting": None, "variety": "mango", "certified_organic": False}
    mango = post_score(
        client,
        headers(Role.LOAN_OFFICER),
        {"segment": "orchards", "subject_id": "o2", "features": weak},
        lang="zh",
    )
    assert {r["code"] for r in mango["reasons"]} <= {"O1", "O2", "O3", "O4"} and mango["reasons"]


def test_train_refuses_data_that_does_not_fit_the_spec(
    ctx: ServiceContext, tmp_path: Path, keys_dir: Path
) -> None:
    spec_file, data_file = tmp_path / "orchards.yaml", tmp_path / "orchards.csv"
    spec_file.write_text(yaml.safe_dump(ORCHARD_SPEC))
    frame = _orchard_data(500, 6)
    frame.loc[[3, 9], "variety"] = "durian"  # data rows 4 and 10
    frame.to_csv(data_file, index=False)
    result = CliRunner().invoke(
        cli_app,
        ["train", "--spec", str(spec_file), "--data", str(data_file), "--target", "bad", "--no-progress"],
        env=_cli_env(ctx, keys_dir),
    )
    assert result.exit_code == 1 and "durian" in result.stderr
    assert "column: variety" in result.stderr and "rows: 4, 10" in result.stderr
    assert count_rows(ctx, ModelVersion.__table__) == 0


def test_train_finds_duplicate_columns_in_the_raw_header(
    ctx: ServiceContext, tmp_path: Path, keys_dir: Path
) -> None:
    spec_file, data_file = tmp_path / "orchards.yaml", tmp_path / "orchards.csv"
    spec_file.write_text(yaml.safe_dump(ORCHARD_SPEC))
    frame = _orchard_data(300, 7)
    frame.insert(0, "trees.1", frame["trees"])  # a real column pandas would not have renamed
    text = frame.to_csv(index=False)
    data_file.write_text(text.replace("trees.1,", "variety,", 1))  # the header repeats "variety"
    result = CliRunner().invoke(
        cli_app,
        ["train", "--spec", str(spec_file), "--data", str(data_file), "--target", "bad", "--no-progress"],
        env=_cli_env(ctx, keys_dir),
    )
    assert result.exit_code == 1 and "duplicate column names: variety" in result.stderr, result.output
    assert count_rows(ctx, ModelVersion.__table__) == 0


def test_train_tunes_with_a_text_target_and_shows_progress(
    ctx: ServiceContext, tmp_path: Path, keys_dir: Path
) -> None:
    spec_file, data_file = tmp_path / "orchards.yaml", tmp_path / "orchards.csv"
    spec_file.write_text(yaml.safe_dump(ORCHARD_SPEC))
    frame = _orchard_data(600, 8)
    frame["bad"] = frame["bad"].map({0: "good", 1: "bad"})
    frame.to_csv(data_file, index=False)
    args = ["train", "--spec", str(spec_file), "--data", str(data_file), "--target", "bad"]
    result = _invoke([*args, "--bad-value", "bad", "--tune", "2", "--cv-folds", "2"], _cli_env(ctx, keys_dir))
    report = json.loads(result.stdout)
    cv = report["metrics"]["cv"]
    assert len(cv["auc"]) == 2 and cv["auc_mean"] == pytest.approx(float(np.mean(cv["auc"])))
    assert cv["auc_std"] >= 0 and report["metrics"]["tuning"]
    assert "tuning" in result.stderr and "training" in result.stderr  # the bar's stages
    quiet = _invoke(
        [*args, "--bad-value", "bad", "--no-progress", "--segment", "orchards"], _cli_env(ctx, keys_dir)
    )
    assert quiet.stderr == "" and json.loads(quiet.stdout)["status"] == "challenger"
    refused = CliRunner().invoke(cli_app, [*args, "--no-progress"], env=_cli_env(ctx, keys_dir))
    assert refused.exit_code == 1 and "column: bad" in refused.stderr and "must be 0/1" in refused.stderr
    assert count_rows(ctx, ModelVersion.__table__) == 2


def _sha(ctx: ServiceContext, version: str) -> str:
    from services.scoring.service.registry import get_version

    with ctx.db.unit_of_work(read_only=True) as session:
        return get_version(session, version).artifact_sha256


def test_bootstrap_trains_champions_once_and_restores_missing_artifacts(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx("scoring")
    ctx.settings = ctx.settings.model_copy(update={"bootstrap_rows": 2000, "bootstrap_seed": 9})
    client = client_for(create_app(ctx))
    assert client.get("/readyz").status_code == 503
    bootstrap(ctx)
    assert client.get("/readyz").json() == {"status": "ready", "service": "scoring", "problems": []}
    assert count_rows(ctx, ModelVersion.__table__) == 2
    bootstrap(ctx)
    assert count_rows(ctx, ModelVersion.__table__) == 2
    farmer = Path(ctx.settings.var_dir) / "models" / "farmer" / "farmer-v1"
    original = (farmer / "model.txt").read_bytes()
    shutil.rmtree(farmer)
    bootstrap(ctx)
    assert (farmer / "model.txt").read_bytes() == original
    assert count_rows(ctx, ModelVersion.__table__) == 2
