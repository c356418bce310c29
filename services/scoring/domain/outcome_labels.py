"""Training labels from loan outcomes: what a stored decision's applicant went on to do.

A decision is labelled by ``performance.loan_status`` (the 12-month rule of performance
monitoring, so a model is trained on exactly what monitoring calls a default) as of a date:

- ``1``: defaulted (``dpd90`` or ``written_off`` within 12 months of disbursement);
- ``0``: matured without default (12 months since disbursement, no default);
- left out: no outcome known, disbursed after ``as_of``, or not matured yet.

The training frame holds the decision's stored features (the spec's feature columns; a
feature the decision did not carry is missing) and the spec's target column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from services.scoring.domain.performance import ScoredLoan, loan_status
from services.scoring.domain.spec import SegmentSpec


@dataclass(frozen=True)
class OutcomeRow:
    """A stored decision's features, its disbursement and the outcomes reported for it."""

    score_id: str
    features: Mapping[str, Any]
    disbursed_on: date
    outcomes: Mapping[str, date]


@dataclass(frozen=True)
class LabelledSet:
    """The labelled training frame (ordered by score id) and what it was built from."""

    frame: pd.DataFrame
    decisions: int
    matured: int
    defaults: int
    as_of: date

    def summary(self) -> dict[str, Any]:
        """The counts as printed by ``agrifin train --from-outcomes``."""
        return {
            "decisions": self.decisions,
            "matured": self.matured,
            "defaults": self.defaults,
            "as_of": self.as_of.isoformat(),
        }


def label(row: OutcomeRow, as_of: date) -> int | None:
    """1 defaulted, 0 matured without default, None not (yet) usable for training."""
    loan = ScoredLoan(
        score_id=row.score_id,
        grade="",
        pd=0.0,
        decision_hint="",
        disbursed_on=row.disbursed_on,
        outcomes=row.outcomes,
    )
    status = loan_status(loan, as_of)
    if status is None or not status.matured:
        return None
    return 1 if status.default_on is not None else 0


def labelled_set(
    spec: SegmentSpec, rows: Sequence[OutcomeRow], *, decisions: int, as_of: date
) -> LabelledSet:
    """The training frame of the matured ``rows`` (``decisions``: how many decisions were considered)."""
    records: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: r.score_id):
        target = label(row, as_of)
        if target is None:
            continue
        record = {name: row.features.get(name) for name in spec.feature_names}
        record[spec.target] = target
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=[*spec.feature_names, spec.target])
    defaults = int(frame[spec.target].sum()) if records else 0
    return LabelledSet(frame=frame, decisions=decisions, matured=len(records), defaults=defaults, as_of=as_of)
