"""The proceeds reconciliation against a real escrow app: ``GET /v1/reconciliation/proceeds``
(auditor, admin; paged by loan) and ``agrifin reconcile proceeds`` (exit 0 balanced, 1 naming
every difference, 2 escrow out of reach)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer import Typer
from typer.testing import CliRunner

from services.loans import cli
from services.loans.api.reconciliation import get_escrow_client
from services.loans.service.reconciliation import reconcile_proceeds
from shared.auth import Role
from shared.clients.escrow import EscrowClient
from shared.clock import ManualClock
from shared.errors import ServiceUnavailable
from shared.platform import ServiceContext
from tests.loans.proceeds_kit import ProceedsWorld, build_world
from tests.support import assert_problem, issue_key


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], clock: ManualClock
) -> ProceedsWorld:
    built = build_world(make_ctx, client_for, clock)
    built.loans.set_date("2026-03-02")
    return built


def _normal_flow(world: ProceedsWorld) -> dict[str, object]:
    """A loan registered, swept once (applied), then swept again past what it owes (refunded)."""
    product = world.linked_product(share_bps=5_000)
    loan = world.disbursed_loan(product["id"])
    world.send_instructions()
    world.release_lot("A")  # 29,250 swept and applied
    world.loans.repay(loan["id"], world.owed(loan["id"]) - 29_250 - 2_000, "2026-03-02", "cash")
    world.release_lot("B")  # 40,000 gross, fee 1,000, net 39,000: 19,500 swept, 2,000 owed
    assert world.deliver_events() == 2
    world.send_instructions()  # refund and close
    return dict(world.loans.loan(str(loan["id"])))


def _reconcile(world: ProceedsWorld, **params: object) -> dict[str, object]:
    return dict(world.loans.get("/v1/reconciliation/proceeds", as_="auditor", **params))


def test_a_fresh_system_is_balanced(world: ProceedsWorld) -> None:
    assert _reconcile(world) == {"differences": [], "loans_checked": 0, "balanced": True, "next_offset": None}


def test_balanced_after_a_normal_flow(world: ProceedsWorld) -> None:
    loan = _normal_flow(world)
    assert loan["status"] == "closed" and loan["credit_balance_minor"] == 0
    answer = _reconcile(world)
    assert answer == {"differences": [], "loans_checked": 1, "balanced": True, "next_offset": None}


def test_a_refund_still_pending_is_named(world: ProceedsWorld) -> None:
    product = world.linked_product(share_bps=5_000)
    loan = world.disbursed_loan(product["id"])
    world.send_instructions()
    world.loans.repay(loan["id"], world.owed(loan["id"]) - 1_000, "2026-03-02", "cash")
    world.release_lot("A")
    world.deliver_events()
    (difference,) = _reconcile(world)["differences"]  # type: ignore[misc]
    assert difference["kind"] == "refund_pending" and difference["loans_minor"] == 28_250
    assert "refund of 28250 KES to the seller" in difference["detail"]
    assert "still pending" in difference["detail"]
    world.send_instructions()
    assert _reconcile(world)["balanced"] is True


def test_a_difference_made_on_purpose_is_named(world: ProceedsWorld) -> None:
    _normal_flow(world)
    # A sale-proceeds repayment escrow never swept (posted by escrow's credential by hand).
    product = world.linked_product(share_bps=1_000)
    other = world.disbursed_loan(product["id"], party="seller-2")
    world.send_instructions()
    world.loans.keys["escrow"] = issue_key(world.loans_ctx, Role.SERVICE, "escrow")
    world.loans.repay(
        other["id"], 5_000, "2026-03-02", "escrow:made-up-event", as_="escrow", source="sale_proceeds"
    )
    answer = _reconcile(world)
    assert answer["balanced"] is False and answer["loans_checked"] == 2
    (difference,) = answer["differences"]  # type: ignore[misc]
    assert difference["loan_id"] == other["id"] and difference["kind"] == "repayment_without_sweep"
    assert difference["event_id"] == "made-up-event" and difference["loans_minor"] == 5_000
    assert "escrow has no such sweep" in difference["detail"]


def test_pages_by_loan(world: ProceedsWorld) -> None:
    product = world.linked_product(share_bps=1_000)
    for party in ("p-1", "p-2", "p-3"):
        world.disbursed_loan(product["id"], party=party)
    world.send_instructions()
    first = _reconcile(world, limit=2)
    assert (first["loans_checked"], first["next_offset"]) == (2, 2)
    second = _reconcile(world, limit=2, offset=2)
    assert (second["loans_checked"], second["next_offset"]) == (1, None)


def test_only_auditors_and_admins_and_escrow_down_is_a_503(world: ProceedsWorld) -> None:
    world.loans.get("/v1/reconciliation/proceeds", as_="officer", expect=403)
    world.loans.get("/v1/reconciliation/proceeds", as_="admin")
    product = world.linked_product()
    world.disbursed_loan(product["id"])

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = world.client_over(httpx.MockTransport(refuse))
    response = world.loans.call("GET", "/v1/reconciliation/proceeds", as_="auditor")
    assert response.status_code == 200  # the app's own escrow client is up
    world.loans_client.app.dependency_overrides[get_escrow_client] = lambda: down  # type: ignore[attr-defined]
    assert_problem(world.loans.call("GET", "/v1/reconciliation/proceeds", as_="auditor"), 503)
    with pytest.raises(ServiceUnavailable, match="escrow did not answer"):
        reconcile_proceeds(world.loans_ctx, down)


def _run_cli(
    world: ProceedsWorld,
    escrow: EscrowClient,
    monkeypatch: pytest.MonkeyPatch,
    keys_dir: Path,
    tmp_path: Path,
) -> tuple[int, str]:
    url = world.loans_ctx.db.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("AGRIFIN_LOANS_DATABASE_URL", url)
    monkeypatch.setenv("AGRIFIN_KEYS_DIR", str(keys_dir))
    monkeypatch.setenv("AGRIFIN_VAR_DIR", str(tmp_path))
    monkeypatch.setattr(cli, "build_escrow_client", lambda settings: escrow)  # escrow is in-process
    app = Typer()
    cli.register(app)
    result = CliRunner().invoke(app, ["reconcile", "proceeds"])
    return result.exit_code, result.output


def test_the_cli_exits_0_when_balanced_and_1_naming_each_difference(
    world: ProceedsWorld, monkeypatch: pytest.MonkeyPatch, keys_dir: Path, tmp_path: Path
) -> None:
    code, output = _run_cli(world, world.escrow_client, monkeypatch, keys_dir, tmp_path)
    assert code == 0, output
    assert "0 loan(s) checked" in output and "balanced" in output

    _normal_flow(world)
    code, output = _run_cli(world, world.escrow_client, monkeypatch, keys_dir, tmp_path)
    assert code == 0, output
    assert "1 loan(s) checked" in output

    product = world.linked_product()
    loan = world.disbursed_loan(product["id"], party="seller-3")
    world.send_instructions()
    world.loans.repay(loan["id"], world.owed(loan["id"]) - 1_000, "2026-03-02", "cash")
    order = world.escrow.create(seller_id="seller-3")
    world.escrow.fund(order["id"])
    world.escrow.ship_and_deliver(order["id"], "A")
    world.escrow.lot(order["id"], "A", "accept")
    world.deliver_events()
    code, output = _run_cli(world, world.escrow_client, monkeypatch, keys_dir, tmp_path)
    assert code == 1, output
    assert "NOT balanced: 1 difference(s)" in output
    assert f"loan {loan['id']} [refund_pending]" in output

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    code, output = _run_cli(
        world, world.client_over(httpx.MockTransport(refuse)), monkeypatch, keys_dir, tmp_path
    )
    assert code == 2 and "escrow did not answer" in output
