"""The audit page's data: every service's audit-chain verification and escrow's ledger checks.

Each chain is verified on its own: scoring, escrow and loans through their ``/v1/audit/verify``
(as the signed-in auditor), the console's own chain in process (``shared.audit.verify_chain``
in a read-only unit of work). A service that does not answer is "not answering" in its own
row and the other rows still verify. A head recorded earlier (``SEQ:HASH``) may be given per
chain: the chain must still hold that entry unchanged, so a truncated chain is caught.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.console.pages import N_
from services.console.service.backends import Backends
from services.console.settings import ConsoleContext
from shared.audit import verify_chain
from shared.clients.escrow import EscrowClient, LedgerVerification, TrialBalance
from shared.clients.platform import ChainVerification, PlatformClient
from shared.http_client import ServiceUnreachable, UpstreamProblem

CHAINS: tuple[tuple[str, str], ...] = (
    ("scoring", N_("Scoring")),
    ("escrow", N_("Escrow")),
    ("loans", N_("Loans")),
    ("console", N_("Console")),
)
"""The audit chains the page verifies, in its order, with their labels."""

HEAD = re.compile(r"^\d+:[0-9a-f]{64}$")
"""A head as verification prints it: the entry's number and its hash."""

REASONS: dict[str, str] = {
    "payload does not match its hash (edited)": N_("The entry's payload was changed after it was written."),
    "entry does not match its hash (edited)": N_("The entry was changed after it was written."),
    "entry does not link to its predecessor (deleted or reordered)": N_(
        "The entry does not follow the one before it: entries were deleted or reordered."
    ),
    "signature does not verify": N_("The entry's signature does not verify."),
    "entry differs from the recorded head": N_("The entry differs from the head recorded earlier."),
    "anchor does not record chain heads": N_("An anchor entry does not record the chains' heads."),
}
"""``shared.audit``'s fixed reasons in plain words (reasons that carry numbers are shown as sent)."""


@dataclass(frozen=True)
class ChainRow:
    """One chain's verification, or why there is none."""

    service: str
    label: str
    answering: bool
    verification: ChainVerification | None = None
    reason: str | None = None
    reason_known: bool = False
    """``reason`` is a plain-words label from the catalogue (else the service's text, as sent)."""
    refused: str | None = None
    """The service answered with a problem instead of a verification (its detail)."""
    expected_head: str | None = None

    @property
    def ok(self) -> bool:
        """Verified and unbroken."""
        return self.verification is not None and self.verification.ok


@dataclass(frozen=True)
class CurrencyRow:
    """One currency of the trial balance."""

    currency: str
    debits_minor: int
    credits_minor: int

    @property
    def balanced(self) -> bool:
        """The debit column equals the credit column."""
        return self.debits_minor == self.credits_minor


@dataclass(frozen=True)
class EscrowLedger:
    """Escrow's trial balance and its full ledger verification."""

    trial_balance: TrialBalance
    currencies: list[CurrencyRow]
    verification: LedgerVerification


@dataclass(frozen=True)
class AuditPage:
    """Everything ``/audit`` shows."""

    chains: list[ChainRow]
    ledger: EscrowLedger | None
    unavailable: list[str] = field(default_factory=list)
    ledger_refused: str | None = None


def head_errors(heads: Mapping[str, str]) -> dict[str, str]:
    """Field errors for recorded heads that are not ``SEQ:HASH`` (field ``head_<service>``)."""
    return {
        f"head_{name}": N_("Write the head as verification shows it: the number, a colon, 64 hex digits.")
        for name, value in heads.items()
        if value and not HEAD.fullmatch(value)
    }


def audit_page(ctx: ConsoleContext, backends: Backends, heads: Mapping[str, str]) -> AuditPage:
    """Every chain verified independently, then escrow's trial balance and ledger verification."""
    clients: dict[str, PlatformClient] = {
        "scoring": backends.scoring,
        "escrow": backends.escrow,
        "loans": backends.loans,
    }
    chains = []
    for name, label in CHAINS:
        expected = heads.get(name) or None
        if expected is not None and not HEAD.fullmatch(expected):
            expected = None  # refused beside its field; the chain is still verified without it
        if name == "console":
            chains.append(verify_console(ctx, expect_head=expected))
        else:
            chains.append(verify_service(name, label, clients[name], expect_head=expected))
    unavailable: list[str] = []
    ledger, refused = None, None
    try:
        ledger = escrow_ledger(backends.escrow)
    except ServiceUnreachable:
        unavailable.append("escrow")
    except UpstreamProblem as exc:
        refused = _problem_text(exc)
    return AuditPage(chains=chains, ledger=ledger, unavailable=unavailable, ledger_refused=refused)


def verify_service(
    name: str, label: str, client: PlatformClient, *, expect_head: str | None = None
) -> ChainRow:
    """One service's chain through its API; "not answering" when it does not."""
    try:
        verification = client.verify_audit(expect_head=expect_head)
    except ServiceUnreachable:
        return ChainRow(name, label, answering=False, expected_head=expect_head)
    except UpstreamProblem as exc:
        return ChainRow(name, label, answering=True, refused=_problem_text(exc), expected_head=expect_head)
    return _row(name, label, verification, expect_head)


def verify_console(ctx: ConsoleContext, *, expect_head: str | None = None) -> ChainRow:
    """The console's own chain, verified in process on its database."""
    with ctx.db.unit_of_work(read_only=True) as session:
        report = verify_chain(session, ctx.tables, ctx.keyring, expect_head=expect_head)
    verification = ChainVerification.model_validate(report.as_dict())
    return _row("console", N_("Console"), verification, expect_head)


def escrow_ledger(client: EscrowClient) -> EscrowLedger:
    """Escrow's trial balance (per currency, debits against credits) and ledger verification."""
    balance = client.trial_balance()
    return EscrowLedger(
        trial_balance=balance,
        currencies=[CurrencyRow(c.currency, c.debits_minor, c.credits_minor) for c in balance.currencies],
        verification=client.verify_ledger(),
    )


def _row(name: str, label: str, verification: ChainVerification, expect_head: str | None) -> ChainRow:
    raw = verification.reason
    known = raw is not None and raw in REASONS
    reason = None if raw is None else REASONS.get(raw, raw)
    return ChainRow(
        name,
        label,
        answering=True,
        verification=verification,
        reason=reason,
        reason_known=known,
        expected_head=expect_head,
    )


def _problem_text(exc: UpstreamProblem) -> str:
    return str(exc.problem.get("detail") or exc.problem.get("title") or f"HTTP {exc.status}")
