"""Training labels from outcomes: the 12-month rule of performance monitoring, as of a date."""

from __future__ import annotations

from datetime import date

from services.scoring.domain.outcome_labels import OutcomeRow, label, labelled_set
from services.scoring.domain.spec import SegmentSpec

DISBURSED = date(2025, 1, 15)


def _row(score_id: str, outcomes: dict[str, date], disbursed: date = DISBURSED) -> OutcomeRow:
    return OutcomeRow(score_id, {"land_area_ha": 2.5}, disbursed, outcomes)


def test_defaults_within_twelve_months_are_1_matured_loans_0_the_rest_left_out() -> None:
    late = date(2026, 6, 1)
    assert label(_row("a", {"dpd90": date(2025, 5, 1)}), late) == 1
    assert label(_row("a", {"written_off": date(2025, 12, 1)}), late) == 1
    assert label(_row("a", {"dpd30": date(2025, 3, 1), "repaid": date(2025, 8, 1)}), late) == 0
    assert label(_row("a", {"dpd90": date(2026, 2, 1)}), late) == 0  # after the 12 months
    early = date(2025, 6, 1)
    assert label(_row("a", {"repaid": date(2025, 5, 1)}), early) is None  # not matured yet
    assert label(_row("a", {"dpd90": date(2025, 5, 1)}), early) == 1  # a default matures at once
    assert label(_row("a", {"dpd90": date(2025, 7, 1)}), early) is None  # not known yet
    assert label(_row("a", {"repaid": date(2025, 5, 1)}, disbursed=date(2025, 7, 1)), early) is None
    assert label(_row("a", {"repaid": date(2025, 5, 1)}), date(2026, 1, 15)) == 0  # the 12th month's day


def test_the_frame_has_the_spec_columns_and_target_of_matured_rows_only(farmer_spec: SegmentSpec) -> None:
    rows = [
        _row("c", {"repaid": date(2025, 5, 1)}),
        _row("a", {"dpd90": date(2025, 5, 1)}),
        _row("b", {"repaid": date(2025, 5, 1)}, disbursed=date(2026, 1, 1)),
    ]
    result = labelled_set(farmer_spec, rows, decisions=5, as_of=date(2026, 3, 1))
    assert list(result.frame.columns) == [*farmer_spec.feature_names, farmer_spec.target]
    assert result.frame[farmer_spec.target].tolist() == [1, 0]  # a then c, b not matured
    assert result.frame["land_area_ha"].tolist() == [2.5, 2.5]
    assert result.frame[farmer_spec.feature_names[1]].isna().all()  # not carried: missing
    assert result.summary() == {"decisions": 5, "matured": 2, "defaults": 1, "as_of": "2026-03-01"}
    empty = labelled_set(farmer_spec, [], decisions=0, as_of=date(2026, 3, 1))
    assert empty.matured == 0 and empty.defaults == 0 and len(empty.frame) == 0
