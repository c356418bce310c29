"""``agrifin train --dask``: lightgbm.dask on a LocalCluster, from a directory of parts, registered
like a model trained in process."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from services.cli import app as cli_app
from services.scoring.domain.synthetic import generate
from services.scoring.models import ModelVersion
from services.scoring.repository.specs import SPECS_DIR
from shared.platform import ServiceContext
from tests.support import count_rows

from .test_scoring_cli import _cli_env, _invoke

FARMER_SPEC = str(Path(SPECS_DIR) / "farmer.yaml")


def test_train_on_a_local_cluster_from_a_directory_of_parts(
    ctx: ServiceContext, tmp_path: Path, keys_dir: Path
) -> None:
    frame = generate("farmer", 3000, 17)
    for k in range(3):
        frame.iloc[k * 1000 : (k + 1) * 1000].to_parquet(tmp_path / f"part-{k}.parquet")
    args = ["train", "--spec", FARMER_SPEC, "--data", str(tmp_path), "--target", "default"]
    args += ["--segment", "farmers_dask", "--dask", "local", "--no-progress"]
    report = json.loads(_invoke(args, _cli_env(ctx, keys_dir)).stdout)
    assert report["version"] == "farmers_dask-v1" and report["status"] == "champion"
    assert report["rows"] == 3000 and report["metrics"]["test"]["auc"] > 0.6
    assert count_rows(ctx, ModelVersion.__table__) == 1


def test_dask_training_refuses_what_it_cannot_do(ctx: ServiceContext, tmp_path: Path, keys_dir: Path) -> None:
    env = _cli_env(ctx, keys_dir)
    args = ["train", "--spec", FARMER_SPEC, "--data", str(tmp_path), "--target", "default"]
    tuned = CliRunner().invoke(cli_app, [*args, "--dask", "local", "--tune", "3"], env=env)
    assert tuned.exit_code == 1 and "takes no --tune" in tuned.stderr
    no_file = CliRunner().invoke(cli_app, args, env=env)
    assert no_file.exit_code == 1 and "needs --dask" in no_file.stderr
    assert count_rows(ctx, ModelVersion.__table__) == 0
