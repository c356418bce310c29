"""Helpers for the loans API tests: a fake scoring service and a thin API driver."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient

from services.loans import jobs as loans_jobs
from services.loans.service.scoring import ScoringClient
from shared.jobs import run_queued_jobs
from tests.factories.loans import (
    ApplicationPayloadFactory,
    BorrowerPayloadFactory,
    ProductPayloadFactory,
    ReasonFactory,
    ScorePayloadFactory,
)
from tests.support import auth

MAX_FORWARD_DAYS = 31
"""The default of ``business_date_max_forward_days``."""

DECLINE_REASONS = [
    {"code": "F04", "feature": "irrigation", "points": -30.2, "text": "No access to irrigation"},
    {"code": "F05", "feature": "years_farming", "points": -21.4, "text": "Limited farming experience"},
]


@dataclass
class FakeScoring:
    """``POST /v1/scores`` over an httpx.MockTransport: idempotent by key, can be taken down.

    Features are checked the way scoring does (422 naming the field); ``years_farming`` below
    2 declines, below 5 asks for review, otherwise approves.
    """

    down: bool = False
    calls: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    request_ids: list[str | None] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        assert request.url.path == "/v1/scores" and request.method == "POST"
        assert request.headers["authorization"] == "Bearer svc-key"
        key = request.headers.get("idempotency-key")
        self.request_ids.append(request.headers.get("x-request-id"))
        body = json.loads(request.content)
        self.calls.append((key, body))
        if key is not None and key in self.answers:
            return httpx.Response(201, json=self.answers[key])
        features = body["features"]
        errors = []
        area = features.get("land_area_ha")
        if area is None:
            errors.append({"field": "features.land_area_ha", "message": "is required"})
        elif float(area) < 0:
            errors.append({"field": "features.land_area_ha", "message": "must be at least 0.0"})
        if errors:
            problem = {
                "type": "https://agrifin.dev/problems/validation",
                "title": "Unprocessable Content",
                "status": 422,
                "detail": "; ".join(e["message"] for e in errors),
                "errors": errors,
            }
            return httpx.Response(422, json=problem, headers={"content-type": "application/problem+json"})
        years = int(features.get("years_farming", 10))
        if years < 2:
            answer = ScorePayloadFactory(
                score=498.3, pd=0.21, grade="E", decision_hint="decline", reasons=DECLINE_REASONS
            )
        elif years < 5:
            answer = ScorePayloadFactory(
                score=571.0, pd=0.09, grade="C", decision_hint="review", reasons=[ReasonFactory()]
            )
        else:
            answer = ScorePayloadFactory()
        answer.update(segment=body["segment"], subject_id=body["subject_id"])
        if key is not None:
            self.answers[key] = answer
        return httpx.Response(201, json=answer)

    def client(self) -> ScoringClient:
        """A ScoringClient whose transport is this fake."""
        http = httpx.Client(base_url="http://scoring.test", transport=httpx.MockTransport(self.handler))
        return ScoringClient(http, api_key="svc-key", attempts=2, max_backoff=0.01)


@dataclass
class LoansApi:
    """Drives the loans API as the named keys; every call asserts its expected status."""

    client: TestClient
    keys: dict[str, str]

    def call(self, method: str, path: str, *, as_: str, expect: int | None = None, **kwargs: Any) -> Any:
        headers = auth(self.keys[as_], **kwargs.pop("headers", {}))
        response = self.client.request(method, path, headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def post(self, path: str, body: Any = None, *, as_: str = "admin", expect: int | None = 200) -> Any:
        response = self.call("POST", path, as_=as_, expect=expect, json=body)
        return response.json()

    def get(self, path: str, *, as_: str = "auditor", expect: int | None = 200, **params: Any) -> Any:
        return self.call("GET", path, as_=as_, expect=expect, params=params).json()

    def set_date(self, value: str) -> None:
        """Get the business date to ``value`` the way an operator may: forward in moves of at
        most ``MAX_FORWARD_DAYS``, back by a correction (``admin`` proposes, ``admin2`` confirms)."""
        target = dt.date.fromisoformat(value)
        view = self.get("/v1/business-date", as_="admin")
        current = dt.date.fromisoformat(view["date"])
        if view["source"] == "clock" or current <= target:
            first = view["source"] == "clock"
            while not first and (target - current).days > MAX_FORWARD_DAYS:
                current += dt.timedelta(days=MAX_FORWARD_DAYS)
                self.post("/v1/business-date", {"date": current.isoformat()})
            self.post("/v1/business-date", {"date": value})
        else:
            self.correct_date(value)

    def correct_date(self, value: str, reason: str = "the date was set by mistake") -> dict[str, Any]:
        """Correct the business date: ``admin`` proposes, ``admin2`` confirms."""
        proposed = self.post("/v1/business-date/corrections", {"date": value, "reason": reason}, expect=201)
        return dict(self.post(f"/v1/business-date/corrections/{proposed['id']}/confirm", as_="admin2"))

    def product(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = ProductPayloadFactory(**overrides)
        return dict(self.post("/v1/products", body, as_="manager", expect=201))

    def borrower(self, **overrides: Any) -> dict[str, Any]:
        return dict(
            self.post("/v1/borrowers", BorrowerPayloadFactory(**overrides), as_="officer", expect=201)
        )

    def apply(
        self, product_id: str, borrower_id: str, *, expect: int = 201, as_: str = "officer", **overrides: Any
    ) -> dict[str, Any]:
        body = ApplicationPayloadFactory(product_id=product_id, borrower_id=borrower_id, **overrides)
        return dict(self.post("/v1/applications", body, as_=as_, expect=expect))

    def active_loan(
        self, product_id: str, *, disburse_on: str = "2026-01-15", **overrides: Any
    ) -> dict[str, Any]:
        """Borrower → application → approval (a second manager) → disbursement."""
        borrower = self.borrower()
        application = self.apply(product_id, borrower["id"], disbursement_date=disburse_on, **overrides)
        loan = self.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=201)
        return dict(self.post(f"/v1/loans/{loan['id']}/disburse", {"date": disburse_on}, as_="manager"))

    def repay(
        self,
        loan_id: str,
        amount: int,
        on: str,
        external_id: str,
        *,
        expect: int = 201,
        as_: str = "officer",
        **extra: Any,
    ) -> dict[str, Any]:
        body = {"amount_minor": amount, "date": on, "external_id": external_id, **extra}
        return dict(self.post(f"/v1/loans/{loan_id}/repayments", body, as_=as_, expect=expect))

    def loan(self, loan_id: str) -> dict[str, Any]:
        return dict(self.get(f"/v1/loans/{loan_id}"))

    def schedule(self, loan_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/v1/loans/{loan_id}/schedule")["rows"])

    def transactions(self, loan_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/v1/loans/{loan_id}/transactions"))

    def cob(self, on: str | None = None) -> dict[str, Any]:
        """Queue close of business (202), run the job as the worker does; the job's result."""
        job = self.post("/v1/close-of-business", {"date": on} if on else None, expect=202)
        assert job["status"] == "queued", job
        ctx = self.client.app.state.ctx  # type: ignore[attr-defined]
        assert run_queued_jobs(ctx, loans_jobs.job_handlers(ctx)) == 1
        done = self.get(job["href"])
        assert done["status"] == "succeeded", done
        return dict(done["result"])
