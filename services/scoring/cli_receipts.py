"""``agrifin verify-receipt`` and ``agrifin replay``: check a saved score offline.

Neither needs a running service or a database: ``verify-receipt`` checks a saved score answer
(or a bare receipt) against the published keys; ``replay`` also recomputes the score with the
model file ``GET /v1/models/{version}/artifact`` served (``services.scoring.domain.replay``,
the same "recompute and compare" as the service's replay). This module imports neither
sqlalchemy nor fastapi (tested): keys come from a saved ``GET /v1/keys`` document, a URL
(``verify-receipt`` only) or the local keys directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def _local_keys() -> list[dict[str, Any]]:
    from shared.crypto import Keyring
    from shared.settings import BaseServiceSettings

    return [dict(k) for k in Keyring.load(BaseServiceSettings().resolved_keys_dir).public_keys()]


def _published_keys(source: str | None) -> list[dict[str, Any]]:
    if source is None:
        return _local_keys()
    if source.startswith(("http://", "https://")):
        import httpx

        url = source if source.rstrip("/").endswith("/v1/keys") else source.rstrip("/") + "/v1/keys"
        body: Any = httpx.get(url, timeout=10.0).raise_for_status().json()
    else:
        body = json.loads(Path(source).read_text(encoding="utf-8"))
    keys = body.get("keys") if isinstance(body, dict) else body
    if not isinstance(keys, list):
        raise ValueError("keys must be a /v1/keys document or a list of keys")
    return [k for k in keys if isinstance(k, dict)]


def _read_object(path: Path, what: str) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{what} {path} is not a JSON object")
    return document


def verify_receipt(
    file: Annotated[
        Path, typer.Argument(help="A saved score response or receipt (JSON).", exists=True, dir_okay=False)
    ],
    keys: Annotated[
        str | None,
        typer.Option(
            "--keys", help="Saved /v1/keys JSON or the service URL; default: the local keys directory."
        ),
    ] = None,
) -> None:
    """Verify a score receipt offline: exit 0 when valid, 1 when not."""
    from shared.receipts import check_score_document

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
        published = _published_keys(keys)
    except Exception as exc:  # unreadable input is an invalid receipt, not a crash
        typer.echo(json.dumps({"valid": False, "reason": f"{type(exc).__name__}: {exc}"}))
        raise typer.Exit(1) from exc
    if not isinstance(document, dict):
        typer.echo(json.dumps({"valid": False, "reason": "not a JSON object"}))
        raise typer.Exit(1)
    check = check_score_document(document, published)
    score_id = check.payload.get("score_id") if check.payload else None
    typer.echo(
        json.dumps(
            {"valid": check.valid, "reason": check.reason, "key_id": check.key_id, "score_id": score_id}
        )
    )
    raise typer.Exit(0 if check.valid else 1)


def replay(
    score: Annotated[
        Path,
        typer.Option("--score", help="The saved GET /v1/scores/{id} answer.", exists=True, dir_okay=False),
    ],
    features: Annotated[
        Path,
        typer.Option(
            "--features",
            help="The features scored (JSON object, or the score request holding them).",
            exists=True,
            dir_okay=False,
        ),
    ],
    model: Annotated[
        Path,
        typer.Option(
            "--model", help="The saved GET /v1/models/{version}/artifact file.", exists=True, dir_okay=False
        ),
    ],
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="A saved GET /v1/keys document; default: the local keys directory.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Verify a decision's receipt and recompute it offline: prints ``{identical, differences}``
    (and what was compared); exit 0 when identical, 1 when not."""
    from services.scoring.domain.replay import replay_answer

    try:
        answer = _read_object(score, "score")
        inputs = _read_object(features, "features")
        bundle = _read_object(model, "model file")
        published = _published_keys(None if keys is None else str(keys))
    except Exception as exc:  # unreadable input: not identical, said in words
        reason = f"{type(exc).__name__}: {exc}"
        typer.echo(json.dumps({"identical": False, "differences": [{"field": "input", "replayed": reason}]}))
        raise typer.Exit(1) from exc
    result = replay_answer(answer, inputs, bundle, published)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    raise typer.Exit(0 if result["identical"] else 1)
