"""Loan terms as stored: products and loans in existing databases read back identically."""

from __future__ import annotations

import json
from decimal import Decimal

from services.loans.domain import ChargeCalculation, ChargeTiming, Fee, LoanTerms, OverduePenalty
from services.loans.schemas.terms import LoanTermsModel, dump_terms, load_terms

# What a product stored by the earlier codec holds (canonical JSON: sorted keys, Decimals as
# strings, enums as values).
STORED = (
    '{"allocation_order":["penalty","fee","interest","principal"],"amortization":"equal_installments",'
    '"arrears_tolerance_minor":0,"balloon_percent":"40","bullet":false,"currency":"KES",'
    '"days_in_month":"actual","days_in_year":"actual","fees":[{"amount_minor":500,"calculation":"flat",'
    '"name":"service","percent":"0","timing":"per_installment"},{"amount_minor":0,"calculation":"percent",'
    '"name":"origination","percent":"1.5","timing":"disbursement"}],"grace_on_interest_charged_periods":0,'
    '"grace_on_interest_payment_periods":0,"grace_on_principal_periods":2,"installment_multiple_of_minor":100,'
    '"interest_calculation_period":"same_as_repayment","interest_method":"declining_balance",'
    '"overdue_penalty":{"amount_minor":5000,"calculation":"flat","frequency":"once","percent":"0"},'
    '"principal_moratorium_every":null,"repay_every":1,"repayment_frequency":"months",'
    '"rounding_mode":"half_up"}'
)

TERMS = LoanTerms(
    currency="KES",
    grace_on_principal_periods=2,
    balloon_percent=Decimal("40"),
    fees=(
        Fee("service", ChargeTiming.PER_INSTALLMENT, ChargeCalculation.FLAT, amount_minor=500),
        Fee("origination", ChargeTiming.DISBURSEMENT, ChargeCalculation.PERCENT, percent=Decimal("1.5")),
    ),
    overdue_penalty=OverduePenalty(ChargeCalculation.FLAT, amount_minor=5_000),
    rounding_mode="half_up",
    installment_multiple_of_minor=100,
)


def test_stored_terms_read_back_to_the_same_terms() -> None:
    assert load_terms(STORED) == TERMS


def test_terms_are_stored_exactly_as_before() -> None:
    assert dump_terms(TERMS) == STORED
    assert load_terms(dump_terms(TERMS)) == TERMS


def test_the_api_answer_is_the_stored_json() -> None:
    assert LoanTermsModel.model_validate_json(STORED).model_dump(mode="json") == json.loads(STORED)
