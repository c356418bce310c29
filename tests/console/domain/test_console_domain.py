"""The console's pure rules: throttling, masking personal data, formatting money and dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.console.domain.formatting import money, percent
from services.console.domain.masking import mask_name, mask_tail, shown_identifier, shown_name
from services.console.domain.throttle import ThrottlePolicy, locked_until
from shared.auth import Role

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY = ThrottlePolicy(max_failures=5, window=timedelta(minutes=15))


def test_fewer_failures_than_the_limit_lock_nothing() -> None:
    assert locked_until(POLICY, failures=4, oldest=NOW) is None


def test_reaching_the_limit_locks_until_the_oldest_failure_leaves_the_window() -> None:
    assert locked_until(POLICY, failures=5, oldest=NOW) == NOW + timedelta(minutes=15)


def test_names_and_identifiers_are_masked_for_roles_that_may_not_see_them() -> None:
    assert mask_name("Wanjiru Kamau") == "W•••••• K••••"
    assert mask_tail("12345678") == "•••••678" and mask_tail("12") == "••"
    assert shown_name("Wanjiru Kamau", Role.AUDITOR) == "W•••••• K••••"
    assert shown_name("Wanjiru Kamau", Role.LOAN_OFFICER) == "Wanjiru Kamau"
    assert shown_identifier("0712345678", Role.MARKETPLACE) == "•••••••678"
    assert shown_identifier(None, Role.AUDITOR) is None


def test_money_is_shown_in_major_units_with_the_currencys_decimals() -> None:
    assert money(123456, "KES", "en") == "KES1,234.56"
    assert money(5000, "UGX", "en") == "UGX5,000"  # no minor unit
    assert money(-250, "USD", "en") == "-US$2.50"
    assert money(None, "KES", "en") == "—"


def test_chinese_formatting_follows_the_locale() -> None:
    assert "1,234.56" in money(123456, "CNY", "zh")
    assert percent("0.125", "zh") == "12.5%"


def test_dates_by_locale() -> None:
    from services.console.domain.formatting import day

    assert day(date(2026, 3, 1), "zh") == "2026年3月1日"
    assert day(date(2026, 3, 1), "en") == "1 Mar 2026"


def test_two_charts_label_themselves_not_each_other() -> None:
    from decimal import Decimal

    from services.console.domain.charts import Bar, bar_chart

    bars = [Bar("PAR30", Decimal("0.12"), "12%"), Bar("PAR90", Decimal("-0.02"), "-2%", tone="bad")]
    first = bar_chart(bars, title="KES", description="PAR in KES")
    second = bar_chart(bars, title="UGX", description="PAR in UGX")
    ids = [chart.split('aria-labelledby="', 1)[1].split("-title", 1)[0] for chart in (first, second)]
    assert ids[0] != ids[1]
    assert f'<title id="{ids[0]}-title">KES</title>' in first and "<desc" in first
