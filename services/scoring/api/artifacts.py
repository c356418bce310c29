"""A model version's artifact as one file, for replaying its decisions offline (auditor, admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Response

from services.scoring.api.deps import StoreDep
from services.scoring.service import artifacts
from shared.api import SessionDep, service_router
from shared.auth import Principal, Role, require_roles

router = service_router(prefix="/v1", tags=["models"])

Auditor = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN))]


@router.get(
    "/models/{version}/artifact",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {}}, "description": "The model file `agrifin replay` reads"},
        304: {"description": "If-None-Match named this artifact's SHA-256"},
    },
)
def model_artifact(
    version: str,
    session: SessionDep,
    store: StoreDep,
    _: Auditor,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The model file a replay needs: ``{format, model_version, segment, artifact_sha256,
    model_text, metadata}`` (the LightGBM text whose SHA-256 is ``artifact_sha256``, and the
    calibration, score scale, spec and reference values); ETag is the artifact's SHA-256."""
    bundle = artifacts.model_artifact(session, store, version)
    etag = f'"{bundle.artifact_sha256}"'
    headers = {"ETag": etag, "Content-Disposition": f'attachment; filename="{bundle.filename}"'}
    if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(bundle.body, media_type="application/json", headers=headers)
