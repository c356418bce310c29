"""The model store as the use cases receive it: one per app (``app.state.model_store``),
built by the app or a command on the context's settings (``repository.artifacts``).

Routes depend on this module, not on the repository, for the store's type.
"""

from __future__ import annotations

from services.scoring.repository.artifacts import ModelArtifactError, ModelStore, build_store

__all__ = ["ModelArtifactError", "ModelStore", "build_store"]
