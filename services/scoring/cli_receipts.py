"""``agrifin verify-receipt``: check a saved score receipt offline, against the published keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from services.scoring.cli import _settings


def _published_keys(source: str | None) -> list[dict[str, Any]]:
    if source is None:
        from shared.crypto import Keyring

        return [dict(k) for k in Keyring.load(_settings().resolved_keys_dir).public_keys()]
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
