"""The application form's pure rules: fields from a feature spec, parsing what people type
(amounts in minor units by the currency's exponent, never float), problems mapped to fields,
the score card from a stored decision, reasons in the reader's language, and the SVG guard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.console.domain.notice import person_of
from services.console.domain.scorecard import (
    Problem,
    Terms,
    age_days,
    feature_fields,
    form_problems,
    inline_svg,
    parse_features,
    parse_principal,
    parse_terms,
    reasons_in_language,
    score_card,
)

SPEC = {
    "segment": "farmer",
    "features": [
        {
            "name": "land_area_ha",
            "type": "numeric",
            "unit": "hectares",
            "min": 0.0,
            "max": 500.0,
            "missing_allowed": False,
            "reason": {"code": "F01", "en": "Small land", "zh": "耕地面积较小"},
        },
        {
            "name": "land_tenure",
            "type": "categorical",
            "unit": "category",
            "categories": ["owned", "state_allocated"],
            "missing_allowed": False,
        },
        {"name": "irrigation", "type": "boolean", "unit": "flag", "missing_allowed": False},
        {
            "name": "on_time_repayment_rate",
            "type": "numeric",
            "unit": "fraction",
            "min": 0,
            "max": 1,
            "missing_allowed": True,
        },
    ],
}


def test_fields_follow_the_spec_with_the_consoles_labels() -> None:
    land, tenure, irrigation, rate = feature_fields(SPEC)
    assert (land.field, land.kind, land.label, land.required, land.unit) == (
        "features.land_area_ha",
        "numeric",
        "Land area (hectares)",
        True,
        "hectares",
    )
    assert (land.low, land.high) == ("0", "500")
    assert tenure.label == "Land tenure"
    assert tenure.categories == (("owned", "Owned"), ("state_allocated", "Allocated by the state"))
    assert (
        irrigation.kind == "boolean"
        and irrigation.unit is None
        and irrigation.label == "Access to irrigation"
    )
    assert not rate.required and rate.unit == "fraction (0 to 1)"
    (unknown,) = feature_fields({"features": [{"name": "soil_ph", "type": "numeric", "unit": "pH"}]})
    assert (unknown.label, unknown.unit) == ("Soil ph", "pH")  # a feature the console does not know yet


def test_features_parse_by_type_and_each_problem_names_its_field() -> None:
    fields = feature_fields(SPEC)
    values, problems = parse_features(
        fields,
        {
            "features.land_area_ha": "2.5",
            "features.land_tenure": "owned",
            "features.irrigation": "false",
            "features.on_time_repayment_rate": "",
        },
    )
    assert values == {"land_area_ha": 2.5, "land_tenure": "owned", "irrigation": False} and problems == {}
    assert (
        parse_features(
            fields,
            {"features.land_area_ha": "12", "features.land_tenure": "owned", "features.irrigation": "true"},
        )[0]["land_area_ha"]
        == 12
    )
    _, problems = parse_features(
        fields,
        {
            "features.land_area_ha": "501",
            "features.land_tenure": "rented",
            "features.on_time_repayment_rate": "x",
        },
    )
    assert problems == {
        "features.land_area_ha": Problem(
            "Must be between %(low)s and %(high)s.", {"low": "0", "high": "500"}
        ),
        "features.land_tenure": Problem("Choose one of the listed values."),
        "features.irrigation": Problem("Required."),
        "features.on_time_repayment_rate": Problem("Enter a number."),
    }


def test_a_principal_in_major_units_becomes_minor_units_by_the_currencys_exponent() -> None:
    assert parse_principal("12,000.50", "KES") == 1_200_050
    assert parse_principal("0.1", "KES") == 10
    assert parse_principal("5000", "UGX") == 5000
    assert parse_principal("1.234", "KWD") == 1234
    assert parse_principal("100000000000000.01", "KES") == 10_000_000_000_000_001  # no float anywhere
    assert parse_principal("12.345", "KES") == Problem(
        "At most %(digits)s decimal places in %(currency)s.", {"digits": 2, "currency": "KES"}
    )
    assert parse_principal("12.5", "UGX") == Problem(
        "At most %(digits)s decimal places in %(currency)s.", {"digits": 0, "currency": "UGX"}
    )
    assert parse_principal("12.50", "UGX") == Problem(
        "At most %(digits)s decimal places in %(currency)s.", {"digits": 0, "currency": "UGX"}
    )
    assert parse_principal("12.00", "UGX") == 12
    assert isinstance(parse_principal("-5", "KES"), Problem) and isinstance(
        parse_principal("NaN", "KES"), Problem
    )
    assert isinstance(parse_principal("", "KES"), Problem) and isinstance(
        parse_principal("1e400x", "KES"), Problem
    )


def test_terms_parse_or_say_which_fields_are_wrong() -> None:
    good = {
        "principal": "120",
        "annual_interest_rate": "18.5",
        "number_of_repayments": "6",
        "disbursement_date": "2026-01-15",
        "first_repayment_date": "",
    }
    assert parse_terms(good, "KES") == Terms(12000, Decimal("18.5"), 6, date(2026, 1, 15), None)
    bad = parse_terms({**good, "number_of_repayments": "2.5", "disbursement_date": "15/01/2026"}, "KES")
    assert isinstance(bad, dict) and set(bad) == {"number_of_repayments", "disbursement_date"}


def test_problems_from_loans_and_scoring_land_beside_the_forms_fields() -> None:
    problem = {
        "detail": "refused",
        "errors": [
            {"field": "principal_minor", "message": "must be between 100000 and 5000000 KES minor units"},
            {"field": "features.land_area_ha", "message": "must be <= 500"},
            {"field": "body.number_of_repayments", "message": "must be between 1 and 24"},
            {"field": "body", "message": "the first repayment is before disbursement"},
        ],
    }
    known = ["principal", "number_of_repayments", "features.land_area_ha"]
    assert form_problems(problem, known) == {
        "principal": "must be between 100000 and 5000000 KES minor units",
        "features.land_area_ha": "must be <= 500",
        "number_of_repayments": "must be between 1 and 24",
        "": "body: the first repayment is before disbursement",
    }
    assert form_problems({"detail": "maker-checker refused"}, known) == {"": "maker-checker refused"}


def test_the_score_card_lists_every_features_points_and_at_most_four_reasons() -> None:
    decision = {
        "id": "s-1",
        "score": 561.25,
        "integer_score": 561,
        "grade": "C",
        "pd": 0.0812,
        "base_points": 560.0,
        "integer_base_points": 560,
        "decision_hint": "review",
        "model_version": "farmer-1",
        "segment": "farmer",
        "contributions": [
            {"feature": "land_area_ha", "value": 0.4, "points": -9.5, "integer_points": -10},
            {"feature": "irrigation", "value": True, "points": 10.75, "integer_points": 11},
        ],
        "reasons": [
            {"code": f"F0{i}", "feature": "x", "points": -1.0, "integer_points": -1, "text": f"reason {i}"}
            for i in range(6)
        ],
    }
    card = score_card(decision, {"land_area_ha": "Land area"})
    # the card prints the integers (they add up: 560 - 10 + 11 = 561)
    assert (card.score, card.grade, card.pd, card.base_points) == (561, "C", Decimal("0.0812"), 560)
    assert [(r.label, r.points) for r in card.rows] == [("Land area", -10), ("Access to irrigation", 11)]
    assert [r.points for r in card.reasons] == [-1, -1, -1, -1]
    assert [r.code for r in card.reasons] == ["F00", "F01", "F02", "F03"]


def test_notice_reasons_take_the_readers_language_then_the_stored_text_then_the_code() -> None:
    adverse = [
        {"code": "F01", "text": "Small land"},
        {"code": "F05", "text": "Little experience"},
        {"code": "F09", "text": None},
    ]
    reasons = reasons_in_language(adverse, {"F01": "耕地面积较小"})
    assert [(r.code, r.text) for r in reasons] == [
        ("F01", "耕地面积较小"),
        ("F05", "Little experience"),
        ("F09", "F09"),
    ]


def test_only_a_plain_svg_is_put_into_a_page() -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" role="img"><title>t</title><rect width="1"/></svg>'
    assert inline_svg('<?xml version="1.0"?>\n' + svg) == svg
    assert inline_svg(svg.replace("<rect", "<script>alert(1)</script><rect")) is None
    assert inline_svg(svg.replace("<rect", '<rect onload="x()"')) is None
    assert inline_svg(svg.replace("<rect", "<foreignObject><p>x</p></foreignObject><rect")) is None
    assert inline_svg("<html>not a chart</html>") is None


def test_ages_and_names_of_people() -> None:
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert age_days(now - timedelta(days=3, hours=1), now) == 3 and age_days(now, now) == 0
    assert age_days(now + timedelta(hours=1), now) == 0
    assert person_of("person:carol:credit_manager:via:k1") == "carol" and person_of("key:abc") == "key:abc"
