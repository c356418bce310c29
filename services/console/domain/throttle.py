"""Sign-in throttling: how many failures lock sign-in, and until when (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    """At most ``max_failures`` failed sign-ins within ``window``; reaching it locks sign-in."""

    max_failures: int
    window: timedelta


def locked_until(policy: ThrottlePolicy, *, failures: int, oldest: datetime | None) -> datetime | None:
    """When sign-in unlocks again, or None when it is not locked.

    ``failures`` are those counted within the window ending now, ``oldest`` the earliest of
    them: once it leaves the window, fewer than the limit remain."""
    if failures < policy.max_failures or oldest is None:
        return None
    return oldest + policy.window
