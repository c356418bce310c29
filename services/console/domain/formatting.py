"""Money, numbers and dates as a page shows them, by locale and currency (Babel, CLDR data).

Amounts arrive as integer minor units and are shown in major units with the currency's own
number of decimals; a raw minor-unit count is never shown.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from shared.money import minor_exponent

LANGUAGES = ("en", "zh")
"""The console's languages: English and Simplified Chinese."""
_LOCALES = {"en": "en_GB", "zh": "zh_Hans_CN"}


def babel_locale(language: str) -> str:
    """The CLDR locale of a console language."""
    return _LOCALES.get(language, _LOCALES["en"])


def major_units(minor: int, currency: str) -> Decimal:
    """``minor`` as an exact decimal in major units (no float)."""
    return Decimal(minor).scaleb(-minor_exponent(currency))


def money(minor: int | None, currency: str, language: str) -> str:
    """``123456, "KES"`` -> ``KES 1,234.56`` (English) or ``KES 1,234.56`` in CLDR's zh style."""
    if minor is None:
        return "—"
    digits = minor_exponent(currency)
    pattern = None if digits else "¤#,##0"
    return format_currency(
        major_units(minor, currency),
        currency,
        format=pattern,
        locale=babel_locale(language),
        currency_digits=True,
        format_type="standard",
    )


def number(value: Decimal | int | float | str | None, language: str, *, digits: int = 2) -> str:
    """A plain number with grouping and at most ``digits`` decimals."""
    if value is None or value == "":
        return "—"
    quantum = Decimal(1).scaleb(-digits)
    exact = Decimal(str(value)).quantize(quantum)
    return format_decimal(
        exact, format="#,##0." + "0" * digits if digits else "#,##0", locale=babel_locale(language)
    )


def percent(value: Decimal | float | str | None, language: str, *, digits: int = 1) -> str:
    """A ratio (0.125) as a percentage (12.5%)."""
    if value is None or value == "":
        return "—"
    return format_percent(
        Decimal(str(value)), format="#,##0." + "0" * digits + "%", locale=babel_locale(language)
    )


def day(value: date | None, language: str) -> str:
    """A calendar date in the locale's medium form."""
    return "—" if value is None else format_date(value, format="medium", locale=babel_locale(language))


def moment(value: datetime | None, language: str) -> str:
    """A time (UTC) in the locale's medium form, with the zone named."""
    if value is None:
        return "—"
    return format_datetime(value, format="medium", tzinfo=None, locale=babel_locale(language)) + " UTC"
