"""Training data from outcomes: a segment's stored decisions labelled by what became of their loans.

Decisions made up to the end of ``as_of`` (UTC) count; outcomes that occurred after ``as_of``
are not known yet; labels are ``domain.outcome_labels``'s (the 12-month rule of performance
monitoring). The features are read against the spec of the segment's champion (the spec the
decisions were scored with), whose target column holds the label.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from services.scoring.domain.outcome_labels import LabelledSet, OutcomeRow, labelled_set
from services.scoring.domain.spec import SegmentSpec, spec_from_dict
from services.scoring.repository import training_outcomes as repo
from services.scoring.service.decisions import champion_for
from services.scoring.settings import ScoringContext


def outcomes_data_source(segment: str, as_of: date, matured: int) -> str:
    """The registry's ``data_source`` of a model trained from outcomes."""
    return f"outcomes:{segment}:as_of={as_of.isoformat()}:n={matured}"


def outcome_training_set(
    session: Session, ctx: ScoringContext, *, segment: str, as_of: date | None
) -> tuple[SegmentSpec, LabelledSet]:
    """The champion's spec and the labelled matured decisions of ``segment`` as of ``as_of``
    (default: today); NotFound for an unknown segment, Conflict when it has no champion."""
    as_of = as_of or ctx.clock.now().astimezone(UTC).date()
    spec = spec_from_dict(json.loads(champion_for(session, segment).spec))
    scored_before = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)
    rows: dict[str, OutcomeRow] = {}
    for found in repo.decision_outcomes(session, segment=segment, scored_before=scored_before):
        row = rows.get(found.score_id) or OutcomeRow(
            score_id=found.score_id,
            features=json.loads(found.features),
            disbursed_on=found.disbursed_on,
            outcomes={},
        )
        rows[found.score_id] = OutcomeRow(
            score_id=row.score_id,
            features=row.features,
            disbursed_on=row.disbursed_on,
            outcomes={**row.outcomes, found.outcome: found.occurred_on},
        )
    decisions = repo.count_decisions(session, segment=segment, scored_before=scored_before)
    return spec, labelled_set(spec, list(rows.values()), decisions=decisions, as_of=as_of)
