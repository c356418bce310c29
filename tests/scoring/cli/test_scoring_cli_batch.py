"""``agrifin score-batch``: in process and with ``--dask`` (a bare flag, or a scheduler's address)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from distributed import Client
from typer.testing import CliRunner

from services.cli import app as cli_app
from services.cli import with_optional_values
from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.synthetic import generate
from services.scoring.repository.artifacts import ModelStore
from services.scoring.service.dask_batch import dask_client
from services.scoring.service.registry import get_version
from shared.platform import ServiceContext
from tests.factories.scoring import frame_to_requests


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    with dask_client("local", n_workers=2) as client:
        yield client


def _cli_env(ctx: ServiceContext, keys_dir: Path) -> dict[str, str]:
    return {
        "AGRIFIN_VAR_DIR": str(ctx.settings.var_dir),
        "AGRIFIN_KEYS_DIR": str(keys_dir),
        "AGRIFIN_SCORING_DATABASE_URL": ctx.db.url,
        "AGRIFIN_ENV": "test",
    }


def _score_batch(args: list[str], env: dict[str, str], exit_code: int = 0) -> Any:
    result = CliRunner().invoke(cli_app, with_optional_values(["score-batch", *args]), env=env)
    assert result.exit_code == exit_code, (result.output, result.exception)
    return result


def _sha(ctx: ServiceContext, version: str) -> str:
    with ctx.db.unit_of_work(read_only=True) as session:
        return get_version(session, version).artifact_sha256


def test_score_batch_scores_explains_and_gives_reasons(
    ctx: ServiceContext, champions: dict[str, str], store: ModelStore, tmp_path: Path, keys_dir: Path
) -> None:
    frame = generate("farmer", 700, 31)
    frame.insert(0, "id", [f"f-{i}" for i in range(len(frame))])
    source, output = tmp_path / "farmers.parquet", tmp_path / "out" / "scored.parquet"
    frame.to_parquet(source)
    args = ["--segment", "farmer", "--in", str(source), "--out", str(output), "--chunk-size", "256"]
    result = _score_batch([*args, "--no-progress"], _cli_env(ctx, keys_dir))
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["rows"] == 700 and summary["chunks"] == 3 and summary["dask"] is None
    assert summary["model_version"] == champions["farmer"]

    scored = pd.read_parquet(output)
    table = pq.read_table(output)
    model = store.load("farmer", champions["farmer"], _sha(ctx, champions["farmer"]))
    names = model.spec.feature_names
    reasons = [f"reason_{k}" for k in range(1, 5)]
    assert list(scored.columns) == [
        "id",
        "score",
        "pd",
        "grade",
        "decision_hint",
        "integer_score",
        "integer_base_points",
        *reasons,
        *[f"{r}_text" for r in reasons],
        *[f"points_{n}" for n in names],
        *[f"int_points_{n}" for n in names],
    ]
    assert scored["id"].tolist() == frame["id"].tolist()
    rows = table.slice(0, 5).to_pylist()
    for row, body in zip(rows, frame_to_requests(frame.head(5), "farmer"), strict=True):
        single = explain_applicant(model, body["features"])
        assert row["score"] == pytest.approx(single.score, abs=1e-9)
        assert row["grade"] == single.grade
        assert [row[r] for r in reasons if row[r] is not None] == [r.code for r in single.reasons]
        assert [row[f"{r}_text"] for r in reasons if row[r] is not None] == [r.text for r in single.reasons]
        assert [row[f"points_{n}"] for n in names] == pytest.approx(
            [single.points[n] for n in names], abs=1e-9
        )
        assert row["integer_score"] == single.integers.score
        assert [row[f"int_points_{n}"] for n in names] == list(single.integers.points)
    score = scored["score"].to_numpy()
    hint_ok = np.where(score >= 580, "approve", np.where(score < 520, "decline", "review"))
    assert (scored["decision_hint"].to_numpy() == hint_ok).all()
    ints = scored[[f"int_points_{n}" for n in names]].to_numpy().sum(axis=1)
    assert (scored["integer_base_points"] + ints == scored["integer_score"]).all()


def test_score_batch_on_a_dask_cluster_writes_what_the_in_process_run_writes(
    ctx: ServiceContext, champions: dict[str, str], tmp_path: Path, keys_dir: Path, cluster: Client
) -> None:
    directory = tmp_path / "in"
    directory.mkdir()
    frame = generate("farmer", 900, 32)
    frame.insert(0, "id", range(900))
    frame.iloc[:400].to_parquet(directory / "a.parquet", row_group_size=100)
    frame.iloc[400:].to_csv(directory / "b.csv", index=False)
    env = _cli_env(ctx, keys_dir)
    base = ["--segment", "farmer", "--in", str(directory), "--no-progress", "--chunk-size", "300"]
    _score_batch([*base, "--out", str(tmp_path / "local.parquet")], env)
    result = _score_batch(
        [*base, "--out", str(tmp_path / "dask.parquet"), "--dask", cluster.scheduler.address], env
    )
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["rows"] == 900 and summary["dask"] == cluster.scheduler.address
    assert pq.read_table(tmp_path / "dask.parquet").equals(pq.read_table(tmp_path / "local.parquet"))


def test_score_batch_refuses_a_missing_input_and_a_non_parquet_output(
    ctx: ServiceContext, champions: dict[str, str], tmp_path: Path, keys_dir: Path
) -> None:
    env = _cli_env(ctx, keys_dir)
    missing = _score_batch(
        ["--segment", "farmer", "--in", str(tmp_path / "nothing"), "--out", str(tmp_path / "o.parquet")],
        env,
        1,
    )
    assert "no such file, directory or glob" in missing.output
    csv_out = _score_batch(
        ["--segment", "farmer", "--in", str(tmp_path), "--out", str(tmp_path / "o.csv")], env, 1
    )
    assert "one .parquet file" in csv_out.output


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["score-batch", "--dask"], ["score-batch", "--dask=local"]),
        (["score-batch", "--dask", "--in", "x"], ["score-batch", "--dask=local", "--in", "x"]),
        (
            ["score-batch", "--dask", "tcp://h:8786", "--in", "x"],
            ["score-batch", "--dask", "tcp://h:8786", "--in", "x"],
        ),
        (["score-batch", "--dask=tcp://h:8786"], ["score-batch", "--dask=tcp://h:8786"]),
        (["train", "--", "--dask"], ["train", "--", "--dask"]),
        (["score-batch", "--in", "x"], ["score-batch", "--in", "x"]),
    ],
)
def test_a_bare_dask_flag_means_a_local_cluster(argv: list[str], expected: list[str]) -> None:
    assert with_optional_values(argv) == expected
