"""Who may call what, the typed context, and the request-scoped helpers routes share.

| who | may |
| --- | --- |
| loan_officer, service:loans | score; read scores, segments and models |
| credit_manager | all of the above; replay; train and promote; monitoring |
| auditor | read scores, receipts, shadow scores, models, cards, monitoring; replay |
| admin | read everything; train and promote; replay |
| marketplace, any other service | nothing (403) |

``service:loans`` is the loans service's credential (a ``service`` key owned by ``loans``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Request

from services.scoring.service.store import ModelStore
from services.scoring.settings import ScoringContext
from shared.auth import Principal, Role, require_roles, service_caller

# The request-scoped helpers below are ``async``: they only read the request, and FastAPI
# runs a plain ``def`` dependency in the thread pool (a thread hop per dependency per request).


async def get_scoring_context(request: Request) -> ScoringContext:
    """The scoring service's context (``shared.api.get_context``, typed, without a thread hop)."""
    ctx: ScoringContext = request.app.state.ctx
    return ctx


ScoringContextDep = Annotated[ScoringContext, Depends(get_scoring_context)]
"""The scoring service's context, its settings typed."""

LOANS = service_caller("loans")
"""The loans service's credential (``service:loans``), the one service that asks for scores."""

Scorer = Annotated[Principal, Depends(require_roles(Role.LOAN_OFFICER, Role.CREDIT_MANAGER, LOANS))]
Reader = Annotated[
    Principal,
    Depends(require_roles(Role.LOAN_OFFICER, Role.CREDIT_MANAGER, LOANS, Role.AUDITOR, Role.ADMIN)),
]
Inspector = Annotated[Principal, Depends(require_roles(Role.CREDIT_MANAGER, Role.AUDITOR, Role.ADMIN))]
Replayer = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN, Role.CREDIT_MANAGER))]
Trainer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.CREDIT_MANAGER))]

Language = Literal["en", "zh"]


async def get_store(request: Request) -> ModelStore:
    """The app's model store (artifacts and the loaded-model cache)."""
    store: ModelStore = request.app.state.model_store
    return store


async def preferred_language(
    lang: Annotated[Language | None, Query(description="Reason text language (en, zh).")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Language:
    """``?lang=`` when given, else the first of en/zh in Accept-Language (by q), else en."""
    if lang is not None:
        return lang
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip().lower()))
    for neg_q, _, tag in sorted(ranked):
        if neg_q < 0 and (tag == "zh" or tag.startswith("zh-")):
            return "zh"
        if neg_q < 0 and (tag == "en" or tag.startswith("en-")):
            return "en"
    return "en"


StoreDep = Annotated[ModelStore, Depends(get_store)]
LangDep = Annotated[Language, Depends(preferred_language)]
