"""Batch scoring on a Dask cluster (``agrifin score-batch --dask [SCHEDULER_ADDRESS]``).

:func:`dask_client` gives a ``distributed.Client``: with ``local`` a ``LocalCluster`` on this
machine (processes, one per core, one thread each, no dashboard, its metrics on a free port),
otherwise the cluster at the scheduler address. :func:`score_on_dask` plans the input's parts on the client
(``repository.dask_files``), ships the model **once** — its text and metadata are scattered to
every worker, and each worker process loads the booster once per model (cached by the artifact's
SHA-256, which ``load_model`` checks, and compiles it for the batch explainer once) — and scores
each part on a worker with the in-process code (``service.batch.score_part``, one thread per task),
so the explanations are the in-process path's: ``domain.treeshap`` (exact TreeSHAP in numpy, the
values of LightGBM's ``pred_contrib`` up to rounding, ~3e-15 on the margin; see ``service.batch``).
The client gathers the parts' Arrow tables in input order and appends them to the one output
Parquet file; at most ``window`` parts are in flight, so neither the client nor the workers hold
more than a few parts at a time.

Same model version, same rows in the same order, same values bit for bit as the in-process path
(every computation is per row; tested on a LocalCluster of two processes). Input paths must be
readable by the client and by the workers (a shared filesystem); the output is written by the
client. The workers need agrifin installed (the same version as the client).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from distributed import Client, Future, LocalCluster
from tqdm import tqdm

from services.scoring.domain.model import TrainedModel, load_model
from services.scoring.domain.scale import HintRule
from services.scoring.domain.spec import FeatureValidationError
from services.scoring.repository.dask_files import InputPart, list_input_files, plan_parts, source_rows
from services.scoring.repository.datafiles import ParquetSink
from services.scoring.service.batch import BatchResult, score_part
from services.scoring.settings import ScoringSettings

LOCAL = "local"
"""The ``--dask`` value that asks for a LocalCluster on this machine."""


@contextmanager
def dask_client(address: str, *, n_workers: int | None = None) -> Iterator[Client]:
    """A client of the cluster at ``address``, or of a new LocalCluster when it is :data:`LOCAL`."""
    if address != LOCAL:
        with Client(address) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            # no dashboard; the scheduler's HTTP server (metrics) still listens, so on a free port:
            # a fixed one (8787 by default) fails when another cluster runs on this machine
            dashboard_address=":0",
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


@dataclass(frozen=True)
class ModelPayload:
    """What a worker needs to rebuild a model: its text and metadata JSON (never a pickled booster)."""

    model_text: str
    metadata_json: str
    artifact_sha256: str

    @classmethod
    def of(cls, model: TrainedModel) -> ModelPayload:
        """The payload of ``model``."""
        return cls(model.model_text, model.metadata_json(), model.artifact_sha256)


_WORKER_MODELS: dict[str, TrainedModel] = {}
"""Models loaded in this (worker) process, by artifact SHA-256."""


def worker_model(payload: ModelPayload) -> TrainedModel:
    """The payload's model, loaded (and its hash checked) once per process."""
    model = _WORKER_MODELS.get(payload.artifact_sha256)
    if model is None:
        model = load_model(payload.model_text, payload.metadata_json)
        _WORKER_MODELS[payload.artifact_sha256] = model
    return model


class ShippedValidationError(Exception):
    """A worker's FeatureValidationError, picklable with its ``errors`` (re-raised as one on the client)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _score_part_task(
    payload: ModelPayload, part: InputPart, rule: HintRule, id_column: str, chunk_size: int
) -> list[pa.Table]:
    try:
        return score_part(
            worker_model(payload), part, rule, id_column=id_column, chunk_size=chunk_size, threads=1
        )
    except FeatureValidationError as exc:
        raise ShippedValidationError(exc.errors) from None


def score_on_dask(
    model: TrainedModel,
    source: Path | str,
    output: Path,
    settings: ScoringSettings,
    *,
    client: Client,
    chunk_size: int,
    id_column: str = "id",
    progress: bool = True,
    window: int | None = None,
    part_rows: int | None = None,
) -> BatchResult:
    """Score ``source`` on ``client``'s cluster into the Parquet file ``output``, in input order."""
    parts = plan_parts(list_input_files(source), **({"part_rows": part_rows} if part_rows else {}))
    rule = HintRule.of(settings)
    threads = sum(client.nthreads().values()) or 1  # type: ignore[no-untyped-call]
    window = window or 2 * threads + 1
    [payload] = client.scatter([ModelPayload.of(model)], broadcast=True)  # type: ignore[no-untyped-call]
    pending: deque[Future[Any]] = deque()
    rows = chunks = 0
    bar = tqdm(
        total=source_rows(parts), unit="rows", disable=not progress, desc=f"scoring {model.segment} on dask"
    )
    todo = iter(parts)
    try:
        with ParquetSink(output) as sink:
            while True:
                while len(pending) < window and (item := next(todo, None)) is not None:
                    pending.append(
                        client.submit(
                            _score_part_task, payload, item, rule, id_column, chunk_size, pure=False
                        )
                    )
                if not pending:
                    break
                future = pending.popleft()
                try:
                    tables: list[pa.Table] = future.result()
                except ShippedValidationError as exc:
                    raise FeatureValidationError(exc.errors) from None
                future.release()  # type: ignore[no-untyped-call]
                for table in tables:
                    sink.write(table)
                    rows += table.num_rows
                    chunks += 1
                    bar.update(table.num_rows)
    finally:
        bar.close()
        for future in pending:
            future.cancel()  # type: ignore[no-untyped-call]
        payload.release()
    return BatchResult(rows=rows, chunks=chunks, output=output, parts=len(parts))
