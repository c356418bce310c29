"""``agrifin score-batch``: score and explain every row of a file, directory or glob with a segment's model.

``--dask`` scores on a Dask cluster: ``--dask`` alone (``services.cli.main`` rewrites a bare
``--dask`` into ``--dask=local``) starts a LocalCluster on this machine, ``--dask ADDRESS``
uses the cluster whose scheduler is at ``ADDRESS`` (``tcp://host:8786``). The output is the same
either way (``service.batch``, ``service.dask_batch``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from services.scoring.cli import _fail, _listing, _settings
from services.scoring.definition import SERVICE

DASK_HELP = (
    "Score on Dask: alone, a LocalCluster on this machine (one process per core); with a scheduler"
    " address (tcp://host:8786), that cluster."
)


def score_batch(
    segment: Annotated[str, typer.Option("--segment")],
    source: Annotated[
        str, typer.Option("--in", help=".csv or .parquet file, a directory of them, or a glob.")
    ],
    output: Annotated[Path, typer.Option("--out", help="Output .parquet file.")],
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1)] = 50_000,
    id_column: Annotated[str, typer.Option("--id-column", help="Copied to the output if present.")] = "id",
    model_version: Annotated[
        str | None, typer.Option("--model-version", help="Default: the champion.")
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", min=0, help="LightGBM threads in process (0: all cores).")
    ] = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    dask: Annotated[str | None, typer.Option("--dask", metavar="[SCHEDULER_ADDRESS]", help=DASK_HELP)] = None,
) -> None:
    """Score, explain and give reasons for every row of a file (vectorised, chunked; optionally on Dask)."""
    from services.scoring.domain.spec import FeatureValidationError
    from services.scoring.repository.artifacts import build_store
    from services.scoring.repository.datafiles import DataFileError
    from services.scoring.service.batch import score_file
    from services.scoring.service.decisions import champion_for
    from services.scoring.service.registry import get_version
    from shared.errors import ProblemError
    from shared.platform import ServiceContext

    if output.suffix.lower() not in (".parquet", ".pq"):
        raise _fail(f"--out {output}: the output is one .parquet file")
    ctx = ServiceContext.build(SERVICE)
    try:
        with ctx.db.unit_of_work(read_only=True) as session:
            row = get_version(session, model_version) if model_version else champion_for(session, segment)
            model = build_store(ctx).load(row.segment, row.version, row.artifact_sha256)
    except ProblemError as exc:
        raise _fail(exc.detail) from exc
    finally:
        ctx.db.dispose()
    if model.segment != segment:
        raise _fail(f"model {row.version} scores segment {model.segment!r}, not {segment!r}")
    start = time.perf_counter()
    cluster_seconds = None
    try:
        if dask is None:
            result = score_file(
                model,
                source,
                output,
                _settings(),
                chunk_size=chunk_size,
                id_column=id_column,
                threads=threads,
                progress=progress,
            )
        else:
            from services.scoring.service.dask_batch import dask_client, score_on_dask

            with dask_client(dask) as client:
                cluster_seconds = time.perf_counter() - start
                start = time.perf_counter()  # the rate counts scoring, not the cluster's start
                result = score_on_dask(
                    model,
                    source,
                    output,
                    _settings(),
                    client=client,
                    chunk_size=chunk_size,
                    id_column=id_column,
                    progress=progress,
                )
    except FeatureValidationError as exc:
        raise _fail("input does not fit the spec:\n" + _listing(exc.errors)) from exc
    except DataFileError as exc:
        raise _fail(f"--in {source}: {exc}") from exc
    seconds = time.perf_counter() - start
    typer.echo(
        json.dumps(
            {
                "model_version": row.version,
                "rows": result.rows,
                "chunks": result.chunks,
                "parts": result.parts,
                "dask": dask,
                "cluster_seconds": None if cluster_seconds is None else round(cluster_seconds, 3),
                "seconds": round(seconds, 3),
                "rows_per_second": round(result.rows / seconds) if seconds > 0 else None,
                "output": str(result.output),
            }
        )
    )
