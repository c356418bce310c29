"""ScoringClient.performance: the performance report typed, its filters sent, and who may read it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import cast

import pytest
from fastapi.testclient import TestClient

from services.scoring.app import create_app
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.repository.specs import load_segment_spec
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.clock import ManualClock
from shared.http_client import UpstreamProblem
from shared.platform import ServiceContext
from tests.factories.scoring import FarmerFeaturesFactory
from tests.scoring.api.test_scoring_api_outcomes import SECRET, deliver
from tests.shared.clients.test_shared_clients_scoring import ROWS, SEED, World


@pytest.fixture(scope="module")
def farmer_only() -> dict[str, TrainedModel]:
    return {"farmer": train_model(load_segment_spec("farmer"), generate("farmer", ROWS, SEED), seed=SEED)}


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext],
    client_for: Callable[..., TestClient],
    farmer_only: dict[str, TrainedModel],
) -> Iterator[World]:
    ctx = cast(ScoringContext, make_ctx("scoring"))
    ctx.settings.loans_webhook_secret = SECRET
    made = World(ctx, client_for(create_app(ctx)), farmer_only)
    yield made
    made.close()


def test_the_performance_report_reads_back_typed(world: World, clock: ManualClock) -> None:
    officer = world.person("amina", Role.LOAN_OFFICER)
    made = [
        officer.score(
            segment="farmer",
            subject_id=f"p-{n}",
            features=FarmerFeaturesFactory(),
            idempotency_key=f"p-{n}",
            monitoring_group="north" if n % 2 else "south",
        )
        for n in range(6)
    ]
    today = clock.now().date()
    for n, decision in enumerate(made):
        kind, days = ("dpd90", 100) if n < 2 else ("repaid", 200)
        data = {
            "loan_id": f"loan-{n}",
            "score_id": decision.id,
            "outcome": kind,
            "occurred_on": (today + timedelta(days=days)).isoformat(),
            "disbursed_on": today.isoformat(),
        }
        assert deliver(world.app, world.ctx, f"ev-{n}", data).json()["result"] == "recorded"
    auditor = world.person("li", Role.AUDITOR)
    as_of = today + timedelta(days=400)
    report = auditor.performance("farmer", model_version=world.champions["farmer"], as_of=as_of)
    assert world.paths[-1].startswith("/v1/monitoring/performance?")
    assert f"as_of={as_of.isoformat()}" in world.paths[-1]
    assert report.as_of == as_of and report.model_version == world.champions["farmer"]
    assert (report.decisions, report.loans, report.matured) == (6, 6, 6)
    assert sum(g.defaulted for g in report.grades) == 2 and sum(g.matured for g in report.grades) == 6
    assert report.discrimination.defaulted == 2 and report.discrimination.auc is not None
    (vintage,) = report.vintages
    assert vintage.loans == 6 and vintage.curve[-1].months == 12 and vintage.curve[-1].defaulted == 2
    assert report.adverse_impact.approvals.counts == {"north": 3, "south": 3}
    early = auditor.performance("farmer", as_of=today - timedelta(days=1))
    assert early.decisions == 0 and early.note and early.discrimination.auc is None
    assert early.adverse_impact.outcomes.ratio is None and early.adverse_impact.outcomes.note
    with pytest.raises(UpstreamProblem) as officers_do_not:
        officer.performance("farmer")
    assert officers_do_not.value.status == 403
