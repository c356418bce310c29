"""Training: upload training data, train (synthetic data, an upload, or a file sent along), poll.

``POST /v1/training-data`` and ``POST /v1/models/train`` take ``multipart/form-data``
(:class:`FormRoute`); the train route also takes JSON, as before (``{segment, rows, seed}`` on
synthetic data) and to train on an earlier upload (``{training_data_id, spec, target, ...}``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, Path, Request, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from services.scoring.api.deps import Inspector, ScoringContextDep, Trainer
from services.scoring.presenters import training_data_out, training_job_out
from services.scoring.schemas.models import (
    TrainFileIn,
    TrainIn,
    TrainingDataOut,
    TrainingJobOut,
    TrainUploadIn,
    UploadIn,
)
from services.scoring.service import registry, training_jobs
from shared.api import ServiceRoute, SessionDep, service_router
from shared.auth import authenticate
from shared.errors import PayloadTooLarge, UnsupportedMediaType, ValidationProblem
from shared.jobs import JobOut, accepted

FORM_FIELDS_BYTES = 1_048_576
"""What a form may carry besides its data file (the spec and the other fields)."""
DATA_PART = "file"
"""The form part that is the data file; any other file part (a spec) is read as UTF-8 text."""
FORM = "multipart/form-data"


@dataclass(frozen=True)
class FilePartBytes:
    """The data file of a form, set aside for the endpoint."""

    filename: str
    content: bytes
    sha256: str


class FormRoute(ServiceRoute):
    """A ServiceRoute that also takes ``multipart/form-data``: the form becomes the JSON it means.

    The shared route class takes JSON bodies (its body checks, input hygiene and the
    Idempotency-Key's request hash are over them). A form is turned into JSON before that
    machinery runs: each text field a string, a text file part (a spec) its text, the data file
    ``{filename, sha256, bytes}`` with the bytes set aside (``request.state.form_files``). So the
    request hash covers the file's SHA-256 and the fields, not the multipart boundary: the same
    upload sent again replays, another file under the same key is refused. The data file may be
    up to ``training_upload_max_bytes`` (413 beyond). The caller's key is checked before the
    body is read, so a request without a valid key is a 401 however large its body.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media != FORM:
                return await handle(request)
            await run_in_threadpool(_authenticate_first, request)
            return await handle(await _form_as_json(request))

        return handler


def _authenticate_first(request: Request) -> None:
    """401 for a missing or unknown key before a form's body is read (the route's own
    dependencies check the key again, and the roles, once the form is JSON)."""
    ctx = request.app.state.ctx
    with ctx.db.unit_of_work(read_only=True) as session:
        request.state.session = session
        try:
            authenticate(request)
        finally:
            del request.state.session


async def _form_as_json(request: Request) -> Request:
    limit: int = request.app.state.ctx.settings.training_upload_max_bytes
    most = limit + FORM_FIELDS_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > most:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {most} (file: {limit})")
    body = await request.body()
    if len(body) > most:
        raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {most} (file: {limit})")
    document: dict[str, Any] = {}
    files: dict[str, FilePartBytes] = {}
    form = await request.form(max_files=4, max_fields=32)
    try:
        for name, value in form.multi_items():
            if name in document:
                raise ValidationProblem([(name, "given more than once")])
            if not isinstance(value, UploadFile):
                document[name] = value
                continue
            content = await value.read()
            if name == DATA_PART:
                if len(content) > limit:
                    raise PayloadTooLarge(f"file: {len(content)} bytes; the limit is {limit} bytes")
                digest = hashlib.sha256(content).hexdigest()
                files[name] = FilePartBytes(value.filename or "upload", content, digest)
                document[name] = {
                    "filename": value.filename or "upload",
                    "sha256": digest,
                    "bytes": len(content),
                }
            else:
                try:
                    document[name] = content.decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise ValidationProblem([(name, "must be UTF-8 text")]) from None
    finally:
        await form.close()
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    request.scope.setdefault("state", {})["form_files"] = files
    headers = [(k, v) for k, v in request.scope["headers"] if k not in (b"content-type", b"content-length")]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode())]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": encoded, "more_body": False}

    return Request({**request.scope, "headers": headers}, receive)


def form_files(request: Request) -> dict[str, FilePartBytes]:
    """The data files of a form request (none for a JSON request)."""
    files: dict[str, FilePartBytes] = getattr(request.state, "form_files", None) or {}
    return files


FormFilesDep = Annotated[dict[str, FilePartBytes], Depends(form_files)]
Model = TypeVar("Model", bound=BaseModel)


def _validated(model: type[Model], document: dict[str, Any]) -> Model:
    """``document`` as ``model``, or a 422 naming each field."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        raise ValidationProblem(errors) from None


def _data_file(files: dict[str, FilePartBytes]) -> FilePartBytes:
    part = files.get(DATA_PART)
    if part is None:
        raise UnsupportedMediaType(f"send the data file as the {DATA_PART!r} part of a {FORM} request")
    return part


_TEXT = {"type": "string"}
_FORM_FIELDS = {
    "spec": {"type": "string", "description": "the feature spec (YAML), a text field or a file"},
    "target": _TEXT,
    "segment": _TEXT,
    "seed": {"type": "integer", "minimum": 0},
    "tune": {"type": "integer", "minimum": 0, "maximum": 200},
    "cv_folds": {"type": "integer", "minimum": 0, "maximum": 10},
    "bad_value": _TEXT,
    "promote": {"type": "boolean"},
}
_FILE = {"type": "string", "format": "binary", "description": "a .csv or .parquet file"}


def _form_doc(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {FORM: {"schema": schema}}


UPLOAD_DOC = {"requestBody": {"required": True, "content": _form_doc({DATA_PART: _FILE}, [DATA_PART])}}
TRAIN_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [TrainIn.model_json_schema(), TrainUploadIn.model_json_schema()]}
            },
            **_form_doc({DATA_PART: _FILE, **_FORM_FIELDS}, [DATA_PART, "spec", "target"]),
        },
    }
}

router = service_router(prefix="/v1", tags=["training"])
router.route_class = FormRoute  # service_router makes ServiceRoutes; these also take forms


@router.post("/training-data", status_code=201, response_model=TrainingDataOut, openapi_extra=UPLOAD_DOC)
def upload_training_data(
    body: Annotated[dict[str, Any], Body()],
    files: FormFilesDep,
    ctx: ScoringContextDep,
    session: SessionDep,
    who: Trainer,
) -> TrainingDataOut:
    """Upload a training data file (multipart ``file``: .csv or .parquet) to train on later."""
    part = _data_file(files)
    _validated(UploadIn, body)
    upload = training_jobs.store_upload(
        session, ctx, filename=part.filename, content=part.content, actor=who.actor
    )
    return training_data_out(upload)


@router.get("/training-data/{upload_id}", response_model=TrainingDataOut)
def get_training_data(
    session: SessionDep, _: Inspector, upload_id: Annotated[str, Path(min_length=1, max_length=36)]
) -> TrainingDataOut:
    """An uploaded file's metadata: name, format, SHA-256, size, header (not its content)."""
    return training_data_out(training_jobs.get_upload(session, upload_id))


@router.post(
    "/models/train", status_code=202, response_model=JobOut, tags=["models"], openapi_extra=TRAIN_DOC
)
def train_model(
    body: Annotated[dict[str, Any], Body()],
    files: FormFilesDep,
    ctx: ScoringContextDep,
    session: SessionDep,
    response: Response,
    who: Trainer,
) -> JobOut:
    """Queue training: on seeded synthetic data (JSON ``{segment, rows, seed}``), on an earlier
    upload (JSON ``{training_data_id, spec, target, ...}``) or on the file sent (multipart ``file``,
    ``spec``, ``target``, ...). A challenger, or the champion if the segment has none (or ``promote``).

    Answers 202 with the job to poll at ``GET /v1/training-jobs/{id}`` (or ``GET /v1/jobs/{id}``);
    its result is the registered model.
    """
    if files or DATA_PART in body:
        part = _data_file(files)
        job = training_jobs.enqueue_file_training(
            session,
            ctx,
            body=_validated(TrainFileIn, body),
            filename=part.filename,
            content=part.content,
            actor=who.actor,
        )
    elif "training_data_id" in body:
        job = training_jobs.enqueue_upload_training(
            session, ctx, body=_validated(TrainUploadIn, body), actor=who.actor
        )
    else:
        synthetic = _validated(TrainIn, body)
        job = registry.enqueue_training(
            session, ctx, segment=synthetic.segment, rows=synthetic.rows, seed=synthetic.seed, actor=who.actor
        )
    return accepted(response, job)


@router.get("/training-jobs/{job_id}", response_model=TrainingJobOut)
def get_training_job(
    ctx: ScoringContextDep,
    session: SessionDep,
    _: Inspector,
    job_id: Annotated[str, Path(min_length=1, max_length=36)],
) -> TrainingJobOut:
    """A training job: status, stage, rounds, tuning trials, elapsed seconds, and the registered
    model or why it failed (which column, which rows)."""
    return training_job_out(training_jobs.training_job(session, ctx, job_id))
