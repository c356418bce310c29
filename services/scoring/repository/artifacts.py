"""The model-artifact store: files on disk under ``<store>/<segment>/<version>/`` and a cache.

Each version's directory holds ``model.txt`` (the LightGBM text, whose SHA-256 is the
model's identity) and ``metadata.json`` (``TrainedModel.metadata_json()``).
:meth:`ModelStore.save` writes them into a temporary sibling directory and renames it into
place, so a reader never sees half a model. :meth:`ModelStore.load` reads them back once,
checks the model text's SHA-256 against the registry's (and ``domain.model.load_model``
checks it against the metadata), and keeps the result in a bounded, thread-safe LRU cache
keyed by version, so the request path never re-reads a file. :func:`write_artifacts` and
:func:`read_artifacts` are the plain directory form (no registry, no cache).

Errors: :class:`ModelArtifactError` (a 500 problem) when an artifact is missing or does not
match the registry.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from services.scoring.domain.model import ArtifactIntegrityError, TrainedModel, load_model
from services.scoring.settings import ScoringContext
from shared.crypto import sha256_hex
from shared.errors import ProblemError

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
    """Artifacts of every registered version, plus a cache of loaded models."""

    def __init__(self, root: Path, *, cache_size: int = 32) -> None:
        self.root = Path(root)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[str, TrainedModel]] = OrderedDict()
        self._lock = threading.Lock()

    def directory(self, segment: str, version: str) -> Path:
        """Where a version's artifacts live."""
        for name in (segment, version):
            if not _SAFE_NAME.match(name):
                raise ValueError(f"unsafe store path component {name!r}")
        return self.root / segment / version

    def save(self, model: TrainedModel, version: str) -> Path:
        """Write a model's artifacts for ``version`` atomically; returns the directory."""
        target = self.directory(model.segment, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
        try:
            write_artifacts(model, staging)
            if target.exists():
                # left behind by a rolled-back registration: the registry never referenced it
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        with self._lock:
            self._remember(version, model)
        return target

    def load(self, segment: str, version: str, sha256: str) -> TrainedModel:
        """The model of ``version``, verified against ``sha256`` (cached after the first load)."""
        with self._lock:
            cached = self._cache.get(version)
            if cached is not None and cached[0] == sha256:
                self._cache.move_to_end(version)
                return cached[1]
            directory = self.directory(segment, version)
            try:
                raw = (directory / MODEL_FILE).read_bytes()
            except OSError as exc:
                raise ModelArtifactError(
                    f"artifact of model {version} is missing from the model store"
                ) from exc
            if sha256_hex(raw) != sha256:
                raise ModelArtifactError(f"artifact of model {version} does not match its registered SHA-256")
            try:  # the verified bytes themselves are loaded: no second read that could differ
                metadata = (directory / METADATA_FILE).read_text(encoding="utf-8")
                model = load_model(raw.decode("utf-8"), metadata)
            except (OSError, ValueError, ArtifactIntegrityError) as exc:
                raise ModelArtifactError(f"artifact of model {version} cannot be loaded: {exc}") from exc
            self._remember(version, model)
            return model

    def _remember(self, version: str, model: TrainedModel) -> None:
        self._cache[version] = (model.artifact_sha256, model)
        self._cache.move_to_end(version)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)


def build_store(ctx: ScoringContext) -> ModelStore:
    """A model store on the context's ``model_store_dir`` (``<var_dir>/models`` by default)."""
    settings = ctx.settings
    return ModelStore(settings.resolved_model_store_dir, cache_size=settings.model_cache_size)
