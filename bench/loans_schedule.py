"""Benchmark the loans schedule engine: schedules built per second, printed as JSON.

    .venv/bin/python bench/loans_schedule.py [--seconds 1.0] [--repayments 18]

Variants: declining-balance equal installments (EMI), equal principal, and daily interest,
all monthly. Not part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.loans.domain import (
    Amortization,
    InterestCalculationPeriod,
    LoanTerms,
    build_schedule,
)

VARIANTS: dict[str, LoanTerms] = {
    "emi_declining_monthly": LoanTerms(currency="KES"),
    "equal_principal_monthly": LoanTerms(currency="KES", amortization=Amortization.EQUAL_PRINCIPAL),
    "emi_daily_interest_monthly": LoanTerms(
        currency="KES", interest_calculation_period=InterestCalculationPeriod.DAILY
    ),
}


def measure(*, terms: LoanTerms, repayments: int, seconds: float) -> dict[str, float | int | None]:
    """Build schedules for about ``seconds`` and report the rate."""
    count = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    deadline = started + seconds
    while True:
        for _ in range(50):
            build_schedule(
                terms=terms,
                principal_minor=25_000_000,
                annual_interest_rate=Decimal("18"),
                number_of_repayments=repayments,
                disbursement_date=date(2025, 3, 31),
            )
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            elapsed, cpu = now - started, time.process_time() - cpu_started
            return {
                "schedules": count,
                "seconds": round(elapsed, 4),
                "schedules_per_second": round(count / elapsed, 1),
                "microseconds_per_schedule": round(elapsed / count * 1e6, 1),
                # on a shared machine the wall clock also counts other processes' turns
                "cpu_seconds": round(cpu, 4),
                "schedules_per_cpu_second": round(count / cpu, 1) if cpu > 0 else None,
            }


def main(argv: list[str] | None = None) -> None:
    """Run every variant and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per variant")
    parser.add_argument("--repayments", type=int, default=18, help="installments per schedule")
    args = parser.parse_args(argv)
    results = {
        name: measure(terms=terms, repayments=args.repayments, seconds=args.seconds)
        for name, terms in VARIANTS.items()
    }
    report = {
        "benchmark": "loans_schedule",
        "repayments": args.repayments,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
