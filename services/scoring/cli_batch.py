"""``agrifin score-batch``: score and explain every row of a file with a segment's model."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from services.scoring.cli import _fail, _listing, _settings
from services.scoring.definition import SERVICE


def score_batch(
    segment: Annotated[str, typer.Option("--segment")],
    source: Annotated[Path, typer.Option("--in", help=".csv or .parquet", exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("--out", help="Output .parquet file.")],
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1)] = 50_000,
    id_column: Annotated[str, typer.Option("--id-column", help="Copied to the output if present.")] = "id",
    model_version: Annotated[
        str | None, typer.Option("--model-version", help="Default: the champion.")
    ] = None,
    threads: Annotated[int, typer.Option("--threads", min=0, help="LightGBM threads (0: all cores).")] = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Score, explain and give reasons for every row of a file (vectorised, chunked)."""
    from services.scoring.domain.spec import FeatureValidationError
    from services.scoring.repository.artifacts import build_store
    from services.scoring.service.batch import score_file
    from services.scoring.service.decisions import champion_for
    from services.scoring.service.registry import get_version
    from shared.errors import ProblemError
    from shared.platform import ServiceContext

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
    try:
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
    except FeatureValidationError as exc:
        raise _fail("input does not fit the spec:\n" + _listing(exc.errors)) from exc
    seconds = time.perf_counter() - start
    typer.echo(
        json.dumps(
            {
                "model_version": row.version,
                "rows": result.rows,
                "chunks": result.chunks,
                "seconds": round(seconds, 3),
                "rows_per_second": round(result.rows / seconds) if seconds > 0 else None,
                "output": str(result.output),
            }
        )
    )
