"""Which marketplace features escrow's trade summary gives, their values, and where each
feature of an application came from (pure).

When a borrower is linked to a marketplace party and its application omits (or sends ``null``
for) a marketplace feature of its segment, loans fills it from escrow's trade summary of that
party as seller over the twelve months before ``as_of`` (escrow's definitions):

============================  ==========  =============================================================
feature                       segments    value
============================  ==========  =============================================================
``marketplace_orders_12m``    farmer      completed escrows (all currencies)
``marketplace_volume_12m``    farmer,     net volume released to the seller in the *product's* currency,
                              enterprise  in whole major units rounded down (``RoundingMode.DOWN``);
                                          other currencies are not converted; none in it: 0
``marketplace_dispute_rate``  farmer      dispute rate (escrows with a disputed lot / escrows), a
                                          4-place decimal; no escrow at all: left omitted
============================  ==========  =============================================================

A feature the caller gave a value for is never replaced. Every feature of the application
then has a source: ``applicant`` (the caller gave it), ``marketplace`` (filled from the
summary) or ``default`` (omitted and not filled: scoring's missing value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.money import Money, RoundingMode, round_decimal


class FeatureSource(StrEnum):
    """Where the value of one feature of an application came from."""

    APPLICANT = "applicant"
    MARKETPLACE = "marketplace"
    DEFAULT = "default"


ORDERS = "marketplace_orders_12m"
VOLUME = "marketplace_volume_12m"
DISPUTE_RATE = "marketplace_dispute_rate"

MARKETPLACE_FEATURES: Mapping[str, tuple[str, ...]] = {
    "farmer": (ORDERS, VOLUME, DISPUTE_RATE),
    "enterprise": (VOLUME,),
}
"""The marketplace features of each segment's spec (scoring's ``specs/<segment>.yaml``)."""


@dataclass(frozen=True)
class TradeFacts:
    """What the mapping reads of a party's trade summary (escrow's figures)."""

    as_of: datetime
    escrows: int
    completed_escrows: int
    dispute_rate: Decimal
    net_minor: Mapping[str, int] = field(default_factory=dict)
    """Net volume released to the seller, minor units by currency."""


def is_given(value: Any) -> bool:
    """True when the caller gave a value (``null`` counts as omitted)."""
    return value is not None


def omitted_marketplace_features(segment: str, features: Mapping[str, Any]) -> tuple[str, ...]:
    """The segment's marketplace features the application gives no value for, in spec order."""
    return tuple(name for name in MARKETPLACE_FEATURES.get(segment, ()) if not is_given(features.get(name)))


def marketplace_values(facts: TradeFacts, *, currency: str, wanted: Iterable[str]) -> dict[str, int | float]:
    """The values of ``wanted`` features the summary gives (those it cannot give are left out).

    The dispute rate is a rate, not money: it goes to scoring as a JSON number; the volume is
    whole major units (an int), so no float ever carries money.
    """
    out: dict[str, int | float] = {}
    for name in wanted:
        if name == ORDERS:
            out[name] = facts.completed_escrows
        elif name == VOLUME:
            net = Money(facts.net_minor.get(currency, 0), currency)
            out[name] = round_decimal(net.to_major(), RoundingMode.DOWN)
        elif name == DISPUTE_RATE and facts.escrows > 0:
            out[name] = float(facts.dispute_rate)
    return out


def feature_sources(
    features: Mapping[str, Any], *, filled: Iterable[str] = (), defaulted: Iterable[str] = ()
) -> dict[str, str]:
    """Each feature's source: ``filled`` ones ``marketplace``, others given ``applicant``,
    ``defaulted`` ones (and any given as ``null``) ``default``; sorted by name."""
    sources: dict[str, str] = {}
    marketplace = set(filled)
    for name, value in features.items():
        if name in marketplace:
            sources[name] = FeatureSource.MARKETPLACE.value
        elif is_given(value):
            sources[name] = FeatureSource.APPLICANT.value
        else:
            sources[name] = FeatureSource.DEFAULT.value
    for name in defaulted:
        if name not in sources or sources[name] == FeatureSource.DEFAULT.value:
            sources[name] = FeatureSource.DEFAULT.value
    return dict(sorted(sources.items()))


def defaulted_features(sources: Mapping[str, str]) -> tuple[str, ...]:
    """The features whose value was defaulted, by name."""
    return tuple(sorted(name for name, source in sources.items() if source == FeatureSource.DEFAULT.value))
