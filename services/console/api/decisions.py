"""The decision explorer and a decision's page (auditors, admins): search, points and reasons,
the signed receipt verified in the console, its downloads, and replay.

Verify and Replay are form posts (CSRF) whose answer is the decision page itself with the
result on it (200), not a redirect: the verdict is computed from scoring's answer at that
moment and the replay's outcome is scoring's answer to that one POST, so neither has a
resource to redirect to. A reload re-posts harmlessly: verification changes nothing, and the
replay's form carries an Idempotency-Key, so scoring answers the same replay again instead of
replaying twice.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.console.api.deps import AUDITORS, BackendsDep, FormDep, posted_by, require_person
from services.console.pages import render, translations
from services.console.service import decisions
from services.console.service.backends import Backends
from services.console.service.sessions import Person

router = APIRouter(include_in_schema=False)

Auditor = Annotated[Person, Depends(require_person(*AUDITORS))]
Poster = Annotated[Person, Depends(posted_by(*AUDITORS))]
Text = Annotated[str, Query(max_length=128)]


def _json_download(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/decisions")
def explorer(
    request: Request,
    person: Auditor,
    b: BackendsDep,
    subject_id: Text = "",
    segment: Annotated[str, Query(max_length=40)] = "",
    model_version: Annotated[str, Query(max_length=64)] = "",
    decision_hint: Annotated[str, Query(max_length=16)] = "",
    date_from: Annotated[str, Query(max_length=32)] = "",
    date_to: Annotated[str, Query(max_length=32)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Scoring's decisions, newest first, filtered by subject, segment, model version, hint, days."""
    values = {
        "subject_id": subject_id.strip(),
        "segment": segment.strip(),
        "model_version": model_version.strip(),
        "decision_hint": decision_hint.strip(),
        "date_from": date_from.strip(),
        "date_to": date_to.strip(),
    }
    search = decisions.parse_filters(values)
    found = decisions.explore(b.scoring, search, page=page, language=person.language)
    gettext = translations(person.language).gettext
    return render(
        request,
        "decisions/explorer.html",
        {
            "values": values,
            "errors": {name: gettext(message) for name, message in search.errors.items()},
            "rows": found.rows,
            "has_next": found.has_next,
            "page": page,
            "query": urlencode({k: v for k, v in values.items() if v}),
            "segments": found.segments,
            "versions": found.versions,
            "hints": list(decisions.HINTS),
            "hint_labels": decisions.HINT_LABELS,
        },
        status_code=422 if search.errors else 200,
    )


@router.get("/decisions/keys.json")
def keys_download(person: Auditor, b: BackendsDep) -> Response:
    """The public keys scoring publishes, to verify receipts offline."""
    return _json_download(decisions.attachment(decisions.published_keys(b.scoring)), "scoring-keys.json")


def _page(
    request: Request,
    person: Person,
    b: Backends,
    score_id: str,
    *,
    verification: decisions.Verification | None = None,
    replay: decisions.Replay | None = None,
) -> Response:
    shown = decisions.decision_page(b.scoring, score_id, language=person.language)
    return render(
        request,
        "decisions/decision.html",
        {
            "d": shown.decision,
            "hint_label": shown.hint_label,
            "contributions": list(zip(shown.decision.contributions, shown.values, strict=True)),
            "receipt_json": shown.receipt_json,
            "payload_json": shown.payload_json,
            "waterfall": shown.waterfall,
            "verification": verification,
            "replay": replay,
            "idempotency_key": decisions.new_idempotency_key(),
        },
    )


@router.get("/decisions/{score_id}")
def decision(request: Request, score_id: str, person: Auditor, b: BackendsDep) -> Response:
    """A decision: score, grade, PD, points, reasons, the signed receipt, Verify and Replay."""
    return _page(request, person, b, score_id)


@router.get("/decisions/{score_id}/receipt.json")
def receipt_download(score_id: str, person: Auditor, b: BackendsDep) -> Response:
    """The decision's receipt exactly as scoring signed it."""
    receipt = decisions.receipt_of(b.scoring, score_id).model_dump()
    return _json_download(decisions.attachment(receipt), f"receipt-{_safe_name(score_id)}.json")


@router.post("/decisions/{score_id}/verify")
def verify(request: Request, score_id: str, person: Poster, form: FormDep, b: BackendsDep) -> Response:
    """Verify the receipt here against scoring's published keys; the page says valid or not."""
    return _page(request, person, b, score_id, verification=decisions.verify(b.scoring, score_id))


@router.post("/decisions/{score_id}/replay")
def replay(request: Request, score_id: str, person: Poster, form: FormDep, b: BackendsDep) -> Response:
    """Scoring replays the decision with its stored model version; the page says identical or how not."""
    posted = form.get("idempotency_key")
    key = decisions.replay_key(posted if isinstance(posted, str) else None)
    return _page(
        request, person, b, score_id, replay=decisions.replay(b.scoring, score_id, idempotency_key=key)
    )


def _safe_name(score_id: str) -> str:
    return "".join(ch for ch in score_id if ch.isalnum() or ch in "-_")[:64] or "decision"
