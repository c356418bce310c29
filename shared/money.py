"""Money as an integer count of minor units plus an ISO 4217 currency code.

No float ever touches an amount. Rates are ``Decimal``. Every operation that divides
money names its rounding mode and says where a remainder goes, so splitting and
allocation never create or lose a minor unit.

    >>> Money(1001, "KES").split(3)            # remainder to the first parts
    [Money(334, 'KES'), Money(334, 'KES'), Money(333, 'KES')]
    >>> Money(10_000, "USD").percentage(Decimal("2.5"))
    Money(250, 'USD')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from enum import StrEnum

# ISO 4217 minor-unit exponents of the currencies agrifin's markets use (and the
# common reserve currencies). Unknown codes are refused rather than guessed.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AED": 2,
    "AUD": 2,
    "BDT": 2,
    "BIF": 0,
    "BRL": 2,
    "BWP": 2,
    "CAD": 2,
    "CDF": 2,
    "CHF": 2,
    "CLP": 0,
    "CNY": 2,
    "COP": 2,
    "CZK": 2,
    "DKK": 2,
    "EGP": 2,
    "ETB": 2,
    "EUR": 2,
    "GBP": 2,
    "GHS": 2,
    "GNF": 0,
    "HKD": 2,
    "IDR": 2,
    "INR": 2,
    "JOD": 3,
    "JPY": 0,
    "KES": 2,
    "KHR": 2,
    "KRW": 0,
    "KWD": 3,
    "LAK": 2,
    "LKR": 2,
    "MAD": 2,
    "MGA": 2,
    "MMK": 2,
    "MWK": 2,
    "MXN": 2,
    "MZN": 2,
    "NGN": 2,
    "NPR": 2,
    "NZD": 2,
    "OMR": 3,
    "PEN": 2,
    "PHP": 2,
    "PKR": 2,
    "PLN": 2,
    "RWF": 0,
    "SEK": 2,
    "SGD": 2,
    "SLE": 2,
    "SSP": 2,
    "THB": 2,
    "TND": 3,
    "TRY": 2,
    "TZS": 2,
    "UGX": 0,
    "USD": 2,
    "UYU": 2,
    "VND": 0,
    "XAF": 0,
    "XOF": 0,
    "ZAR": 2,
    "ZMW": 2,
}


class RoundingMode(StrEnum):
    """Named rounding modes; half-even (banker's rounding) is the default everywhere."""

    HALF_EVEN = "half_even"
    HALF_UP = "half_up"
    HALF_DOWN = "half_down"
    UP = "up"
    DOWN = "down"
    CEILING = "ceiling"
    FLOOR = "floor"

    @property
    def decimal_mode(self) -> str:
        """The ``decimal`` module constant for this mode."""
        return _DECIMAL_MODES[self]


_DECIMAL_MODES = {
    RoundingMode.HALF_EVEN: ROUND_HALF_EVEN,
    RoundingMode.HALF_UP: ROUND_HALF_UP,
    RoundingMode.HALF_DOWN: ROUND_HALF_DOWN,
    RoundingMode.UP: ROUND_UP,
    RoundingMode.DOWN: ROUND_DOWN,
    RoundingMode.CEILING: ROUND_CEILING,
    RoundingMode.FLOOR: ROUND_FLOOR,
}


class CurrencyError(ValueError):
    """An unknown currency code."""


class CurrencyMismatchError(ValueError):
    """Two amounts in different currencies were combined."""


def check_currency(code: str) -> str:
    """Return ``code`` if it is a known ISO 4217 code, else raise ``CurrencyError``."""
    if code not in CURRENCY_EXPONENTS:
        raise CurrencyError(f"unknown ISO 4217 currency code {code!r}")
    return code


def minor_exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (KES 2, UGX 0, KWD 3)."""
    return CURRENCY_EXPONENTS[check_currency(currency)]


def round_decimal(value: Decimal, mode: RoundingMode = RoundingMode.HALF_EVEN) -> int:
    """Round a Decimal count of minor units to an int with the named mode."""
    return int(value.quantize(Decimal(1), rounding=mode.decimal_mode))


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in integer minor units of one currency."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError(f"Money.minor must be an int, got {type(self.minor).__name__}")
        check_currency(self.currency)

    def __repr__(self) -> str:
        return f"Money({self.minor}, {self.currency!r})"

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``."""
        return cls(0, currency)

    @classmethod
    def from_major(
        cls, amount: Decimal | str, currency: str, mode: RoundingMode = RoundingMode.HALF_EVEN
    ) -> Money:
        """Parse a major-unit decimal ("12.34" KES) into minor units, rounding with ``mode``."""
        if isinstance(amount, float):  # pragma: no cover - guarded by typing too
            raise TypeError("floats are not accepted for money")
        scaled = Decimal(amount).scaleb(minor_exponent(currency))
        return cls(round_decimal(scaled, mode), currency)

    def to_major(self) -> Decimal:
        """The amount in major units as an exact Decimal."""
        return Decimal(self.minor).scaleb(-minor_exponent(self.currency))

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("can only combine Money with Money")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def is_zero(self) -> bool:
        """True when the amount is exactly zero."""
        return self.minor == 0

    def multiply(self, factor: Decimal | int, mode: RoundingMode = RoundingMode.HALF_EVEN) -> Money:
        """Multiply by a Decimal factor, rounding the result with ``mode``."""
        if isinstance(factor, float):
            raise TypeError("floats are not accepted for money")
        return Money(round_decimal(Decimal(self.minor) * Decimal(factor), mode), self.currency)

    def percentage(self, percent: Decimal, mode: RoundingMode = RoundingMode.HALF_EVEN) -> Money:
        """``percent`` % of this amount, rounded with ``mode``."""
        return self.multiply(Decimal(percent) / Decimal(100), mode)

    def basis_points(self, bps: int, mode: RoundingMode = RoundingMode.HALF_EVEN) -> Money:
        """``bps`` basis points (1/100 of a percent) of this amount, rounded with ``mode``."""
        return self.multiply(Decimal(bps) / Decimal(10_000), mode)

    def split(self, parts: int) -> list[Money]:
        """Split into ``parts`` near-equal amounts; the remainder goes one unit each to the first parts."""
        if parts <= 0:
            raise ValueError("parts must be positive")
        return self.allocate([1] * parts)

    def allocate(self, ratios: Sequence[int | Decimal]) -> list[Money]:
        """Allocate by ``ratios`` (largest-remainder method); the parts always sum to this amount.

        Each part gets the floor of its exact share; the leftover minor units go one each
        to the parts with the largest fractional remainders (ties: the earlier part).
        """
        if not ratios or any(Decimal(r) < 0 for r in ratios):
            raise ValueError("ratios must be non-empty and non-negative")
        total = sum((Decimal(r) for r in ratios), Decimal(0))
        if total == 0:
            raise ValueError("ratios must not all be zero")
        sign = -1 if self.minor < 0 else 1
        amount = abs(self.minor)
        exact = [Decimal(amount) * Decimal(r) / total for r in ratios]
        floors = [int(e.to_integral_value(rounding=ROUND_FLOOR)) for e in exact]
        leftover = amount - sum(floors)
        order = sorted(range(len(ratios)), key=lambda i: (-(exact[i] - floors[i]), i))
        for i in order[:leftover]:
            floors[i] += 1
        return [Money(sign * f, self.currency) for f in floors]


def total(amounts: Sequence[Money], currency: str) -> Money:
    """Sum of amounts, all of which must be in ``currency``."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
