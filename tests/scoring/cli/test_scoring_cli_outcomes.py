"""``agrifin train --from-outcomes``: stored decisions labelled by their loans' outcomes train a
challenger (the champion stays); too few matured decisions or defaults are refused with the counts."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from services.cli import app as cli_app
from services.scoring.domain.synthetic import generate
from services.scoring.models import ModelVersion
from services.scoring.repository.artifacts import build_store
from services.scoring.service.decisions import score_applicant
from services.scoring.service.outcomes import apply_loans_event
from services.scoring.settings import ScoringContext
from tests.factories.scoring import frame_to_requests
from tests.scoring.cli.test_scoring_cli import _cli_env

LATE = 40  # disbursed 300 days after scoring: not matured at AS_OF_DAYS unless they defaulted
NEVER = 20  # never disbursed: no outcome
AS_OF_DAYS = 420


def _seed(ctx: ScoringContext, rows: int, seed: int) -> tuple[date, dict[str, int]]:
    """``rows`` farmer decisions scored by the champion; outcomes follow the synthetic target:
    defaulters reach dpd90 100 days after disbursement, the others repay after 200 days. The
    last NEVER decisions get no outcome, the LATE before them are disbursed late. Returns the
    scoring day and the counts the command must find as of AS_OF_DAYS after it."""
    frame = generate("farmer", rows, seed)
    today = ctx.clock.now().date()
    store = build_store(ctx)
    matured = defaults = 0
    with ctx.db.unit_of_work() as session:
        for i, (body, bad) in enumerate(
            zip(frame_to_requests(frame, "farmer"), frame["default"], strict=True)
        ):
            decision = score_applicant(
                session,
                ctx,
                store,
                segment="farmer",
                subject_id=body["subject_id"],
                features=body["features"],
                monitoring_group=None,
                actor="test:seed",
            )
            if i >= rows - NEVER:
                continue
            late = i >= rows - NEVER - LATE
            disbursed = today + timedelta(days=300 if late else 10)
            kind, on = (
                ("dpd90", disbursed + timedelta(days=100))
                if bad
                else ("repaid", disbursed + timedelta(days=200))
            )
            if not late or bad:
                matured, defaults = matured + 1, defaults + int(bad)
            data = {
                "loan_id": f"loan-{i}",
                "score_id": decision.id,
                "outcome": kind,
                "occurred_on": on.isoformat(),
                "disbursed_on": disbursed.isoformat(),
            }
            event = {"id": f"ev-{i}", "topic": "loan.outcome", "data": data}
            assert apply_loans_event(session, ctx, event=event)["result"] == "recorded"
    return today, {"decisions": rows, "matured": matured, "defaults": defaults}


def _train(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli_app, ["train", "--from-outcomes", "--segment", "farmer", *args], env=env)


def _models(ctx: ScoringContext) -> dict[str, tuple[str, str]]:
    with ctx.db.unit_of_work(read_only=True) as session:
        return {m.version: (m.status, m.data_source) for m in session.scalars(select(ModelVersion))}


def test_outcomes_train_a_challenger_and_the_champion_stays(
    ctx: ScoringContext, champions: dict[str, str], keys_dir: Path
) -> None:
    today, expected = _seed(ctx, 300, 23)
    as_of = (today + timedelta(days=AS_OF_DAYS)).isoformat()
    env = _cli_env(ctx, keys_dir)

    result = _train(env, "--as-of", as_of, "--seed", "3")
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(result.output)
    assert report["from_outcomes"] == {**expected, "as_of": as_of}
    assert report["status"] == "challenger" and report["version"] == "farmer-v2"
    assert report["rows"] == expected["matured"] and 0 < expected["defaults"] < expected["matured"]
    assert 0.0 <= report["metrics"]["test"]["auc"] <= 1.0
    source = f"outcomes:farmer:as_of={as_of}:n={expected['matured']}"
    models = _models(ctx)
    assert models["farmer-v2"] == ("challenger", source)
    assert models[champions["farmer"]][0] == "champion"

    promoted = _train(env, "--as-of", as_of, "--seed", "3", "--promote")
    assert promoted.exit_code == 0, (promoted.output, promoted.exception)
    again = json.loads(promoted.output)
    assert again["status"] == "champion" and again["artifact_sha256"] == report["artifact_sha256"]
    models = _models(ctx)
    assert models[champions["farmer"]][0] == "retired" and models["farmer-v3"] == ("champion", source)


def test_too_few_outcomes_are_refused_with_the_counts(
    ctx: ScoringContext, champions: dict[str, str], keys_dir: Path
) -> None:
    today, expected = _seed(ctx, 90, 29)
    env = _cli_env(ctx, keys_dir)
    as_of = (today + timedelta(days=AS_OF_DAYS)).isoformat()
    matured, defaults = expected["matured"], expected["defaults"]

    result = _train(env, "--as-of", as_of)
    assert result.exit_code == 1
    assert (
        f"found {matured} matured decisions ({defaults} defaulted, {matured - defaults} did not)"
        f" among 90 decisions of segment 'farmer' as of {as_of}"
    ) in result.output
    assert "at least 200" in result.output

    # enough rows for --min-rows, too few defaults for the training code
    result = _train(env, "--as-of", as_of, "--min-rows", "10")
    assert result.exit_code == 1
    assert (
        "need at least 200 rows (with at least 30 defaults and 30 non-defaults)" in result.output
        and f"found {matured} matured" in result.output
    )

    # as of the scoring day nothing has matured; decisions scored later do not count before it
    early = _train(env, "--as-of", (today - timedelta(days=1)).isoformat(), "--min-rows", "1")
    assert (
        early.exit_code == 1
        and "found 0 matured decisions (0 defaulted, 0 did not) among 0 decisions" in (early.output)
    )
    assert set(_models(ctx)) == set(champions.values())

    unknown = CliRunner().invoke(cli_app, ["train", "--from-outcomes", "--segment", "orchards"], env=env)
    assert unknown.exit_code == 1 and "unknown segment 'orchards'" in unknown.output
    mixed = _train(env, "--target", "default")
    assert mixed.exit_code == 1 and "takes no --spec, --data, --target or --bad-value" in mixed.output
