"""A lender's training data: each problem names its column and its first offending (1-based) rows."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from services.scoring.domain.matrix import encode_column, frame_to_matrix
from services.scoring.domain.spec import FeatureValidationError, SegmentSpec, spec_from_dict, spec_to_dict
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training_data import TrainingDataError, check_training_frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate("farmer", 400, 31)


def _refused(spec: SegmentSpec, df: pd.DataFrame, **kw: object) -> TrainingDataError:
    with pytest.raises(TrainingDataError) as info:
        check_training_frame(spec, df, "default", **kw)  # type: ignore[arg-type]
    return info.value


def test_good_data_gives_the_matrix_and_target(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    x, y = check_training_frame(farmer_spec, frame, "default")
    np.testing.assert_array_equal(x, frame_to_matrix(farmer_spec, frame))
    np.testing.assert_array_equal(y, frame["default"].to_numpy(dtype=np.float64))


def test_values_above_the_maximum_name_column_and_rows(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[[2, 16, 239], "land_area_ha"] = 900.0
    error = _refused(farmer_spec, bad)
    assert str(error) == "column land_area_ha: values above the maximum 500 in rows 3, 17, 240"
    assert error.column == "land_area_ha" and error.rows == [3, 17, 240]


def test_rows_are_positions_whatever_the_index(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    bad = frame.set_index(pd.Index(range(1000, 1000 + len(frame)))).copy()
    bad.loc[1007, "years_farming"] = -3.0
    error = _refused(farmer_spec, bad)
    assert error.rows == [8] and "values below the minimum 0 in row 8" in str(error)


def test_many_offending_rows_show_the_count_and_the_first_five(
    farmer_spec: SegmentSpec, frame: pd.DataFrame
) -> None:
    bad = frame.assign(distance_to_market_km=np.where(np.arange(len(frame)) % 10 == 0, np.nan, 3.0))
    error = _refused(farmer_spec, bad)
    assert error.column == "distance_to_market_km" and error.rows == [1, 11, 21, 31, 41]
    assert (
        "missing values (the spec does not allow them) in 40 rows, the first rows 1, 11, 21, 31, 41"
        in str(error)
    )


def test_unknown_categories_name_the_values(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    bad = frame.astype({"main_crop": object})
    bad.loc[4, "main_crop"] = "durian"
    bad.loc[9, "main_crop"] = "Maize"
    error = _refused(farmer_spec, bad)
    assert error.column == "main_crop" and error.rows == [5, 10]
    assert "unknown categories 'durian', 'Maize' (allowed: maize, rice," in str(error)


def test_text_in_a_numeric_column(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    bad = frame.astype({"household_size": object})
    bad.loc[0, "household_size"] = "five"
    error = _refused(farmer_spec, bad)
    assert str(error) == "column household_size: text that is not a number ('five') in row 1"


def test_every_problem_is_listed_the_first_is_the_errors(
    farmer_spec: SegmentSpec, frame: pd.DataFrame
) -> None:
    bad = frame.astype({"coop_member": object})
    bad.loc[3, "land_area_ha"] = -1.0
    bad.loc[5, "prior_loans"] = 1000.0
    bad.loc[6, "coop_member"] = np.nan
    error = _refused(farmer_spec, bad)
    assert error.column == "land_area_ha" and error.rows == [4]
    text = str(error)
    assert "column prior_loans: values above the maximum 100 in row 6" in text
    assert "column coop_member: missing values" in text


def test_target_problems(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    absent = _refused(farmer_spec, frame.drop(columns=["default"]))
    assert absent.column == "default" and "target column default is missing" in str(absent)
    two = frame.astype({"default": float})
    two.loc[[1, 2], "default"] = 2.0
    error = _refused(farmer_spec, two)
    assert error.column == "default" and error.rows == [2, 3] and "must be 0/1" in str(error)
    holes = frame.astype({"default": float})
    holes.loc[10, "default"] = np.nan
    error = _refused(farmer_spec, holes)
    assert str(error) == "target default: missing values in row 11"


def test_text_target_with_a_bad_value(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    words = frame.assign(default=np.where(frame["default"] == 1, " bad", "good"))
    _, y = check_training_frame(farmer_spec, words, "default", bad_value="bad")
    np.testing.assert_array_equal(y, frame["default"].to_numpy(dtype=np.float64))
    with pytest.raises(TrainingDataError, match="must be 0/1"):
        check_training_frame(farmer_spec, words, "default")
    typo = words.copy()
    typo.loc[12, "default"] = "godo"
    error = _refused(farmer_spec, typo, bad_value="bad")
    assert error.rows == [13] and "found 'good' and 'godo'" in str(error)
    # numeric codes work too: 1 = good, 2 = bad as in the classic credit sets
    codes = frame.assign(default=frame["default"] + 1)
    _, y = check_training_frame(farmer_spec, codes, "default", bad_value="2")
    assert y.sum() == frame["default"].sum()


def test_too_few_rows_and_too_few_of_a_class(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    error = _refused(farmer_spec, frame.head(150))
    assert "need at least 200 rows" in str(error) and "found 150 rows" in str(error)
    few = frame.assign(default=0)
    few.loc[:11, "default"] = 1
    error = _refused(farmer_spec, few)
    assert (
        "need at least 30 defaults (1) and 30 non-defaults (0), found 12 defaults and 388 non-defaults"
        in str(error)
    )


def test_duplicate_column_names(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    text = frame.assign(extra=1).to_csv(index=False).replace(",extra", ",land_area_ha", 1)
    read = pd.read_csv(io.StringIO(text))
    assert "land_area_ha.1" in read.columns  # pandas renamed the repeat
    error = _refused(farmer_spec, read)
    assert error.column == "land_area_ha" and "duplicate column names: land_area_ha" in str(error)
    header = text.splitlines()[0].split(",")
    error = _refused(farmer_spec, read, columns=header)
    assert error.column == "land_area_ha"
    # a column legitimately called x.1 without an x is no duplicate
    check_training_frame(farmer_spec, frame.assign(**{"note.1": 0}), "default", columns=None)


def test_columns_of_the_spec_missing_from_the_data(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    error = _refused(farmer_spec, frame.drop(columns=["irrigation", "coop_member"]))
    assert error.column == "irrigation"
    assert str(error) == "columns of the spec are missing from the data: irrigation, coop_member"


def test_numeric_categories_read_from_a_file_match_the_spec(farmer_spec: SegmentSpec) -> None:
    data = spec_to_dict(farmer_spec)
    tenure = next(f for f in data["features"] if f["name"] == "land_tenure")
    tenure["categories"] = ["1", "2", "3"]
    data["example"] = {}
    spec = spec_from_dict(data)
    values, bad = encode_column(spec.feature("land_tenure"), pd.Series([1, 3, np.nan, 7]))
    np.testing.assert_array_equal(values[:2], [0.0, 2.0])
    assert np.isnan(values[2]) and list(bad) == [False, False, False, True]


def test_batch_validation_names_the_rows_too(farmer_spec: SegmentSpec, frame: pd.DataFrame) -> None:
    bad = frame.head(20).copy()
    bad.loc[[1, 4], "land_area_ha"] = 9999.0
    with pytest.raises(FeatureValidationError) as info:
        frame_to_matrix(farmer_spec, bad)
    assert info.value.errors == [("features.land_area_ha", "above max 500 in 2 rows (rows 2, 5)")]
