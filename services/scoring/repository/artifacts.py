"""The model-artifact store: the database's artifact rows, a local directory cache of them
under ``<store>/<segment>/<version>/``, and a cache of loaded models.

Each version's artifact is ``model.txt`` (the LightGBM text, whose SHA-256 is the model's
identity) and ``metadata.json`` (``TrainedModel.metadata_json()``: spec, calibration, scale,
baseline, metrics, what the card is built from). The registration inserts them as a
``scoring_model_artifacts`` row in its own transaction (``repository.artifact_rows``), so
every replica finds every version; :meth:`ModelStore.save` also writes them into a temporary
sibling directory and renames it into place, so a reader never sees half a model.

:meth:`ModelStore.load` looks in the bounded, thread-safe LRU cache of loaded models (keyed
by version), then in the local directory, then in the database (and writes the local copy),
and checks the model text's SHA-256 against the registry's wherever it came from
(``domain.model.load_model`` checks it against the metadata too), so the request path never
re-reads a file or a row once a version is loaded. A local copy that does not match is
ignored and replaced from the database. :func:`write_artifacts` and :func:`read_artifacts`
are the plain directory form (no registry, no cache).

Errors: :class:`ModelArtifactError` (a 500 problem) when an artifact is missing or does not
match the registry.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from services.scoring.domain.model import ArtifactIntegrityError, TrainedModel, load_model
from services.scoring.repository import artifact_rows
from services.scoring.repository.artifact_rows import ArtifactFiles
from services.scoring.settings import ScoringContext
from shared.crypto import sha256_hex
from shared.db import Database
from shared.errors import ProblemError

log = logging.getLogger("agrifin.scoring")

MODEL_FILE = "model.txt"
METADATA_FILE = "metadata.json"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ModelArtifactError(ProblemError):
    """A registered model whose artifact is missing or does not match its SHA-256."""

    status, title, slug = 500, "Model Artifact Unusable", "model-artifact"


def write_artifacts(model: TrainedModel, directory: str | Path) -> Path:
    """Write ``model.txt`` and ``metadata.json`` into ``directory``; returns it."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / MODEL_FILE).write_bytes(model.model_text.encode("utf-8"))
    (out / METADATA_FILE).write_text(model.metadata_json(), encoding="utf-8")
    return out


def read_artifacts(directory: str | Path) -> TrainedModel:
    """Load a model written by :func:`write_artifacts`."""
    src = Path(directory)
    text = (src / MODEL_FILE).read_bytes().decode("utf-8")
    return load_model(text, (src / METADATA_FILE).read_text(encoding="utf-8"))


class ModelStore:
    """Artifacts of every registered version: a cache of loaded models, a local directory
    (itself a cache) and, when the store has a database, the artifact rows every replica reads."""

    def __init__(self, root: Path, *, cache_size: int = 32, db: Database | None = None) -> None:
        self.root = Path(root)
        self.cache_size = cache_size
        self.db = db
        self._cache: OrderedDict[str, tuple[str, TrainedModel]] = OrderedDict()
        self._lock = threading.Lock()

    def directory(self, segment: str, version: str) -> Path:
        """Where a version's artifacts live."""
        for name in (segment, version):
            if not _SAFE_NAME.match(name):
                raise ValueError(f"unsafe store path component {name!r}")
        return self.root / segment / version

    def save(self, model: TrainedModel, version: str) -> Path:
        """Write a model's artifacts for ``version`` atomically; returns the directory.

        The local files only: the registration inserts the artifact row itself
        (:func:`artifact_files` gives its bytes), in its own transaction.
        """
        target = self.directory(model.segment, version)
        _write_directory(target, artifact_files(model), replace=True)
        with self._lock:
            self._remember(version, model)
        return target

    def load(self, segment: str, version: str, sha256: str) -> TrainedModel:
        """The model of ``version``, verified against ``sha256``: from the cache of loaded
        models, else the local directory, else the database (then cached in the directory)."""
        with self._lock:
            cached = self._cache.get(version)
            if cached is not None and cached[0] == sha256:
                self._cache.move_to_end(version)
                return cached[1]
            directory = self.directory(segment, version)
            model = self._load_local(version, directory, sha256)
            if model is None:
                files = self._database_files(version, sha256)
                model = _load(version, files)
                self._cache_locally(directory, files)
            self._remember(version, model)
            return model

    def _load_local(self, version: str, directory: Path, sha256: str) -> TrainedModel | None:
        """The local copy's model, or None when it is missing or unusable (the database decides)."""
        local = read_local_files(directory, sha256)
        if local is None:
            return None
        try:
            return _load(version, local)
        except ModelArtifactError as exc:
            log.warning("local model artifact %s is unusable: %s", directory, exc)
            return None

    def _database_files(self, version: str, sha256: str) -> ArtifactFiles:
        """The artifact row's files, verified (in a read-only transaction of its own)."""
        if self.db is None:
            raise ModelArtifactError(f"artifact of model {version} is missing from the model store")
        with self.db.unit_of_work(read_only=True) as session:
            stored = artifact_rows.get_files(session, version)
        if stored is None:
            raise ModelArtifactError(
                f"artifact of model {version} is missing from the model store and the database"
            )
        files, model_sha256, metadata_sha256 = stored
        if sha256_hex(files.model_file) != sha256 or model_sha256 != sha256:
            raise ModelArtifactError(
                f"stored artifact of model {version} does not match its registered SHA-256"
            )
        if sha256_hex(files.metadata_file) != metadata_sha256:
            raise ModelArtifactError(f"stored metadata of model {version} does not match its SHA-256")
        return files

    def _cache_locally(self, directory: Path, files: ArtifactFiles) -> None:
        """Keep the database's copy in the local directory (a failure only costs a re-read)."""
        try:
            _write_directory(directory, files, replace=directory.exists())
        except OSError as exc:
            log.warning("could not cache model artifact in %s: %s", directory, exc)

    def _remember(self, version: str, model: TrainedModel) -> None:
        self._cache[version] = (model.artifact_sha256, model)
        self._cache.move_to_end(version)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)


def artifact_files(model: TrainedModel) -> ArtifactFiles:
    """The bytes of ``model.txt`` and ``metadata.json`` (what the directory and the row hold)."""
    return ArtifactFiles(model.model_text.encode("utf-8"), model.metadata_json().encode("utf-8"))


def read_local_files(directory: Path, sha256: str) -> ArtifactFiles | None:
    """The local copy of an artifact when it is there and its model file matches ``sha256``."""
    try:
        raw = (directory / MODEL_FILE).read_bytes()
        if sha256_hex(raw) != sha256:
            log.warning("local model artifact %s does not match its registered SHA-256", directory)
            return None
        return ArtifactFiles(raw, (directory / METADATA_FILE).read_bytes())
    except OSError:
        return None


def _load(version: str, files: ArtifactFiles) -> TrainedModel:
    """Rebuild a model from verified bytes (no second read that could differ)."""
    try:
        return load_model(files.model_file.decode("utf-8"), files.metadata_file.decode("utf-8"))
    except (ValueError, ArtifactIntegrityError) as exc:
        raise ModelArtifactError(f"artifact of model {version} cannot be loaded: {exc}") from exc


def _write_directory(target: Path, files: ArtifactFiles, *, replace: bool) -> None:
    """Write the two files into a temporary sibling and rename it to ``target``.

    ``replace``: a directory already there is removed first (a rolled-back registration's or
    a stale cache's). Another process that renamed its own copy in first wins.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        (staging / MODEL_FILE).write_bytes(files.model_file)
        (staging / METADATA_FILE).write_bytes(files.metadata_file)
        if replace and target.exists():
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError:
            if not target.exists():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # a concurrent writer's copy is in place
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_store(ctx: ScoringContext) -> ModelStore:
    """A model store on the context's ``model_store_dir`` (``<var_dir>/models`` by default)."""
    settings = ctx.settings
    return ModelStore(settings.resolved_model_store_dir, cache_size=settings.model_cache_size, db=ctx.db)
