"""Batch scoring benchmark: exact explained rows/minute in process and on a LocalCluster; prints JSON.

One model (``train_model`` on ``--train-rows`` synthetic rows), ``--rows`` synthetic applicants
written as Parquet parts, then, ``--repeat`` times each (the best run is quoted, every run is kept),
in the same run:

* ``raw_pred_contrib`` — ``booster.predict(x, pred_contrib=True)`` alone on the encoded matrix,
  with 1 and 2 threads: what the ``lightgbm`` engine pays;
* ``raw_treeshap`` — ``domain.treeshap.shap_values`` alone on the same matrix, 1 and 2 threads
  (its one-off ``compile_seconds`` reported apart), and its max abs difference from ``pred_contrib``;
* ``in_process`` — ``service.batch.score_file`` (read, validate, explain, integer points, reasons
  and texts, decision hints, Arrow, Parquet) on 1 and 2 threads, per explainer engine
  (``treeshap``, what batch scoring uses, and ``lightgbm``, LightGBM's ``pred_contrib``);
* ``local_cluster`` — ``service.dask_batch.score_on_dask`` on a LocalCluster of ``--workers``
  processes (one thread each), per engine; the cluster's start-up is measured apart and not counted.

The ``lightgbm`` engine is measured by setting ``service.batch.BATCH_ENGINE`` (in this process and,
with ``Client.run``, in the workers) for the benchmark only. ``profile`` splits one chunk of the
in-process path into its stages. The machine's CPU count and load average (before and after) are
recorded: other work on the machine slows every figure.

Run: ``.venv/bin/python bench/scoring_batch.py [--rows 300000] [--repeat 2] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.scoring.domain.explain import explain_batch
from services.scoring.domain.matrix import frame_to_matrix
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.scale import HintRule
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.domain.treeshap import compile_booster, shap_values
from services.scoring.repository.dask_files import list_input_files, plan_parts, read_part
from services.scoring.repository.specs import load_segment_spec
from services.scoring.service import batch as batch_module
from services.scoring.service.batch import input_columns, score_chunk, score_file
from services.scoring.settings import ScoringSettings


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _runs(fn: Callable[[], int], repeat: int) -> dict[str, Any]:
    """Rows/minute of ``fn`` (which returns the rows it did), best of ``repeat``."""
    per_minute = []
    for _ in range(repeat):
        start = time.perf_counter()
        rows = fn()
        per_minute.append(round(rows / (time.perf_counter() - start) * 60.0))
    return {"rows_per_minute": max(per_minute), "runs": per_minute, "load_average_after": _load()}


def _write_input(directory: Path, segment: str, rows: int, files: int, seed: int) -> None:
    per_file = -(-rows // files)
    for k in range(files):
        n = min(per_file, rows - k * per_file)
        frame = generate(segment, n, seed + k)
        frame.insert(0, "id", [f"{k}-{i}" for i in range(n)])
        frame.to_parquet(directory / f"part-{k:03d}.parquet", row_group_size=50_000)


def _profile(model: TrainedModel, source: Path, chunk: int, threads: int) -> dict[str, float | str]:
    """Seconds per stage of one chunk (the stages of ``score_chunk``, timed apart)."""
    part = plan_parts(list_input_files(source), part_rows=chunk)[0]
    t0 = time.perf_counter()
    frame = read_part(part, input_columns(model, "id")).iloc[:chunk]
    t1 = time.perf_counter()
    x = frame_to_matrix(model.spec, frame)
    explain_batch(model, x[:10], engine=batch_module.BATCH_ENGINE)  # compiles once (timed apart)
    t2 = time.perf_counter()
    model.booster.predict(x, pred_contrib=True, num_threads=threads)
    t3 = time.perf_counter()
    batch = explain_batch(model, x, num_threads=threads, engine=batch_module.BATCH_ENGINE)
    t4 = time.perf_counter()
    _ = batch.integers
    t5 = time.perf_counter()
    score_chunk(model, frame, HintRule.of(ScoringSettings()), id_column="id", threads=threads)
    t6 = time.perf_counter()
    explain = t4 - t3
    whole = t6 - t5
    return {
        "rows": len(frame),
        "read_part": round(t1 - t0, 4),
        "frame_to_matrix": round(t2 - t1, 4),
        "pred_contrib": round(t3 - t2, 4),
        "explain_batch": round(explain, 4),
        "explain_batch_engine": batch_module.BATCH_ENGINE,
        "integer_points": round(t5 - t4, 4),
        "score_chunk_total": round(whole, 4),
        "score_chunk_minus_explain_batch": round(whole - explain, 4),
    }


def main() -> None:
    """Parse arguments, run the benchmarks, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segment", default="farmer", choices=["farmer", "enterprise"])
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-dask", action="store_true", help="skip the LocalCluster run")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    report: dict[str, Any] = {
        "segment": args.segment,
        "cpu_count": os.cpu_count(),
        "load_average_before": _load(),
    }
    spec = load_segment_spec(args.segment)
    model = train_model(spec, generate(args.segment, args.train_rows, args.seed), seed=args.seed)
    report["model"] = {
        "train_rows": args.train_rows,
        "trees": model.booster.num_trees(),
        "features": len(spec.features),
        "artifact_sha256": model.artifact_sha256,
    }
    settings = ScoringSettings()
    with tempfile.TemporaryDirectory(prefix="agrifin-bench-") as tmp:
        source = Path(tmp) / "in"
        source.mkdir()
        _write_input(source, args.segment, args.rows, args.files, args.seed + 1000)
        out = Path(tmp) / "out.parquet"
        frames = [read_part(p, input_columns(model, "id")) for p in plan_parts(list_input_files(source))]
        matrices = [frame_to_matrix(spec, f) for f in frames]

        def raw(threads: int) -> Callable[[], int]:
            def run() -> int:
                for x in matrices:
                    for start in range(0, len(x), args.chunk):
                        model.booster.predict(
                            x[start : start + args.chunk], pred_contrib=True, num_threads=threads
                        )
                return sum(len(x) for x in matrices)

            return run

        def in_process(threads: int) -> Callable[[], int]:
            def run() -> int:
                return score_file(
                    model, source, out, settings, chunk_size=args.chunk, threads=threads, progress=False
                ).rows

            return run

        start = time.perf_counter()
        compiled = compile_booster(model.booster)
        compile_seconds = time.perf_counter() - start

        def fast(threads: int) -> Callable[[], int]:
            def run() -> int:
                for x in matrices:
                    for start in range(0, len(x), args.chunk):
                        shap_values(compiled, x[start : start + args.chunk], num_threads=threads)
                return sum(len(x) for x in matrices)

            return run

        sample = matrices[0][: args.chunk]
        difference = float(
            np.abs(
                shap_values(compiled, sample)
                - model.booster.predict(sample, pred_contrib=True, num_threads=1)
            ).max()
        )
        report["rows"] = sum(len(x) for x in matrices)
        report["profile"] = _profile(model, source, args.chunk, 2)
        report["raw_pred_contrib"] = {f"threads_{t}": _runs(raw(t), args.repeat) for t in (1, 2)}
        report["raw_treeshap"] = {
            "compile_seconds": round(compile_seconds, 3),
            "max_abs_difference_from_pred_contrib": difference,
            "max_abs_difference_points": difference * abs(model.scale.factor * model.calibration_a),
            **{f"threads_{t}": _runs(fast(t), args.repeat) for t in (1, 2)},
        }
        report["in_process"] = {}
        for engine in ENGINES:
            batch_module.BATCH_ENGINE = engine  # benchmark only
            report["in_process"][engine] = {f"threads_{t}": _runs(in_process(t), args.repeat) for t in (1, 2)}
        batch_module.BATCH_ENGINE = "treeshap"
        if not args.no_dask:
            report["local_cluster"] = _dask(model, source, out, settings, args)
    report["ratios"] = _ratios(report)
    report["target_rows_per_minute"] = 3_000_000
    report["load_average_after"] = _load()
    print(json.dumps(report, indent=2))


ENGINES: tuple[Literal["treeshap", "lightgbm"], ...] = ("treeshap", "lightgbm")


def _ratios(report: dict[str, Any]) -> dict[str, float]:
    def rate(*keys: str) -> float:
        node: Any = report
        for key in keys:
            node = node[key]
        return float(node["rows_per_minute"])

    raw1, raw2 = rate("raw_pred_contrib", "threads_1"), rate("raw_pred_contrib", "threads_2")
    ratios = {
        "raw_treeshap_vs_raw_pred_contrib_1_thread": rate("raw_treeshap", "threads_1") / raw1,
        "raw_treeshap_vs_raw_pred_contrib_2_threads": rate("raw_treeshap", "threads_2") / raw2,
    }
    for engine in ENGINES:
        ratios[f"in_process_{engine}_1_thread_vs_raw_pred_contrib_1_thread"] = (
            rate("in_process", engine, "threads_1") / raw1
        )
        ratios[f"in_process_{engine}_2_threads_vs_raw_pred_contrib_2_threads"] = (
            rate("in_process", engine, "threads_2") / raw2
        )
        if "local_cluster" in report:
            ratios[f"local_cluster_{engine}_vs_raw_pred_contrib_2_threads"] = (
                rate("local_cluster", engine) / raw2
            )
    ratios["in_process_2_threads_treeshap_vs_lightgbm"] = rate("in_process", "treeshap", "threads_2") / rate(
        "in_process", "lightgbm", "threads_2"
    )
    if "local_cluster" in report:
        ratios["local_cluster_treeshap_vs_lightgbm"] = rate("local_cluster", "treeshap") / rate(
            "local_cluster", "lightgbm"
        )
    return {k: round(v, 3) for k, v in ratios.items()}


def _set_engine(engine: Literal["treeshap", "lightgbm"]) -> None:
    """Run in each worker: the engine its batch scoring uses (benchmark only)."""
    batch_module.BATCH_ENGINE = engine


def _dask(
    model: TrainedModel, source: Path, out: Path, settings: ScoringSettings, args: Any
) -> dict[str, Any]:
    from services.scoring.service.dask_batch import dask_client, score_on_dask

    start = time.perf_counter()
    with dask_client("local", n_workers=args.workers) as client:
        started = time.perf_counter() - start

        def run() -> int:
            return score_on_dask(
                model, source, out, settings, client=client, chunk_size=args.chunk, progress=False
            ).rows

        results: dict[str, Any] = {}
        for engine in ENGINES:
            client.run(_set_engine, engine)
            results[engine] = _runs(run, args.repeat)
        client.run(_set_engine, "treeshap")
    return {"workers": args.workers, "threads_per_worker": 1, "startup_seconds": round(started, 2), **results}


if __name__ == "__main__":  # the LocalCluster's worker processes import this module again
    main()
