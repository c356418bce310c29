"""Escrow pages: a marketplace operator sees their own escrow's lots, money view and timeline
(formatted money, who did what), another marketplace's operator gets the not-found page, the
list filters and pages, nothing on these pages changes an escrow, and other roles are refused."""

from __future__ import annotations

import html
import re
from typing import Any

from services.console.domain.formatting import money
from services.console.service.escrows import PAGE_SIZE
from shared.auth import ACTING_OWNER_HEADER, ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from tests.console.kit import World
from tests.factories.escrow import EscrowPayloadFactory
from tests.support import auth, issue_key


class Market:
    """Escrow's API as one marketplace's checkout (its own key), the sandbox as an admin."""

    def __init__(self, world: World, owner: str) -> None:
        self.world = world
        self.key = issue_key(world.contexts["escrow"], Role.MARKETPLACE, owner=owner)

    def post(self, path: str, body: Any = None, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
        answer = self.world.apps["escrow"].post(path, json=body, headers=headers or auth(self.key))
        assert answer.status_code < 300, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def open(self, **overrides: Any) -> dict[str, Any]:
        return self.post("/v1/escrows", EscrowPayloadFactory(**overrides))

    def fund(self, escrow_id: str) -> None:
        payment = self.post(f"/v1/escrows/{escrow_id}/fund")
        self.world.api("escrow", "POST", f"/v1/sandbox/payments/{payment['id']}/confirm")


def _kes(minor: int) -> str:
    return money(minor, "KES", "en")


def test_a_marketplace_operator_sees_their_escrows_lots_money_and_timeline(world: World) -> None:
    shop = Market(world, "shop-1")
    escrow = shop.open(order_ref="ORD-TOMATO-7")
    shop.fund(escrow["id"])
    lots = f"/v1/escrows/{escrow['id']}/lots"
    shop.post(f"{lots}/A/ship", {"carrier": "G4S", "tracking": "T-A"})
    shop.post(f"{lots}/A/deliver")
    shop.post(f"{lots}/A/accept")
    # Lot B shipped by a person through the console's credential: the timeline names them.
    console_key = world.console_ctx.settings.resolved_api_key
    assert console_key is not None
    as_person = auth(
        console_key,
        **{ACTING_PERSON_HEADER: "mo", ACTING_ROLE_HEADER: "marketplace", ACTING_OWNER_HEADER: "shop-1"},
    )
    shop.post(f"{lots}/B/ship", {"carrier": "Fargo", "tracking": "T-B"}, headers=as_person)

    browser = world.signed_in("mo", Role.MARKETPLACE, owner="shop-1")
    listing = browser.get("/escrows")
    assert listing.status_code == 200
    assert f'href="/escrows/{escrow["id"]}">ORD-TOMATO-7</a>' in listing.text
    assert _kes(100_000) in listing.text

    page = browser.get(f"/escrows/{escrow['id']}")
    assert page.status_code == 200
    text = page.text
    # Lots: A accepted and released in full, B shipped with its carrier.
    lot_a = re.search(r"<th scope=\"row\">A</th>(.*?)</tr>", text, re.S)
    lot_b = re.search(r"<th scope=\"row\">B</th>(.*?)</tr>", text, re.S)
    assert lot_a is not None and lot_b is not None
    assert "Accepted" in lot_a.group(1) and _kes(60_000) in lot_a.group(1)
    assert "Shipped" in lot_b.group(1) and "Fargo, tracking T-B" in lot_b.group(1)
    # Money view: 250 bps of 60,000 is a 1,500 fee; 58,500 to the seller's side; B's 40,000 held.
    found = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">([^<]+)</td></tr>', text)
    money_rows = {html.unescape(label): html.unescape(value) for label, value in found}
    assert money_rows == {
        "Funded": _kes(100_000),
        "Released to the seller's side": _kes(58_500),
        "Refunded to the buyer": _kes(0),
        "Fees": _kes(1_500),
        "Held": _kes(40_000),
    }
    assert "Funded equals released, refunded, fees and held together." in text
    # Timeline: when, what, who — the checkout key, the payment provider, the person.
    timeline = text[text.index('id="timeline"') :]
    whats = re.findall(r'<th scope="row">([^<]+)</th>', timeline)
    assert whats[:2] == ["Escrow opened", "Payment started"]
    assert {"Funded", "Lot shipped", "Lot delivered", "Lot accepted"} <= set(whats)
    assert "API key (Marketplace operations, shop-1)" in timeline
    assert "Payment provider sandbox" in timeline
    assert "mo (Marketplace operations)" in timeline
    assert f"Fee: {_kes(1_500)}" in timeline
    # Read-only: the only forms are the header's language switch and sign-out.
    assert text.count('method="post"') == 2
    assert "/lots/" not in text and ">Accept<" not in text and ">Cancel<" not in text
    assert "100000" not in text and "58500" not in text  # minor units never shown raw


def test_another_marketplaces_operator_gets_the_not_found_page(world: World) -> None:
    escrow = Market(world, "shop-1").open(order_ref="ORD-SHOP1")
    Market(world, "shop-2").open(order_ref="ORD-SHOP2")
    browser = world.signed_in("kim", Role.MARKETPLACE, owner="shop-2")

    page = browser.get(f"/escrows/{escrow['id']}")
    assert page.status_code == 404
    assert "Not found" in page.text and "ORD-SHOP1" not in page.text
    listing = browser.get("/escrows")
    assert "ORD-SHOP2" in listing.text and "ORD-SHOP1" not in listing.text


def test_an_auditor_sees_every_marketplace_filters_by_status_and_pages(world: World) -> None:
    one, two = Market(world, "shop-1"), Market(world, "shop-2")
    funded = one.open(order_ref="ORD-FUNDED")
    one.fund(funded["id"])
    for n in range(PAGE_SIZE):
        two.open(order_ref=f"ORD-WAIT-{n:02d}")
    browser = world.signed_in("ada", Role.AUDITOR)

    first = browser.get("/escrows")
    assert first.text.count('<th scope="row"><a href="/escrows/') == PAGE_SIZE
    assert 'href="?page=2">Next page</a>' in first.text
    second = browser.get("/escrows?page=2")
    assert second.text.count('<th scope="row"><a href="/escrows/') == 1
    assert "Next page" not in second.text and 'href="?page=1">Previous page</a>' in second.text

    only_funded = browser.get("/escrows?status=funded")
    assert ">ORD-FUNDED</a>" in only_funded.text and "ORD-WAIT" not in only_funded.text
    assert '<option value="funded" selected>' in only_funded.text
    waiting = browser.get("/escrows?status=created&order_ref=ORD-WAIT-03")
    assert ">ORD-WAIT-03</a>" in waiting.text and waiting.text.count('<a href="/escrows/') == 1

    assert browser.get(f"/escrows/{funded['id']}").status_code == 200
    assert browser.get("/escrows?status=bogus").status_code == 422


def test_lending_roles_cannot_open_the_escrow_pages(world: World) -> None:
    escrow = Market(world, "shop-1").open()
    browser = world.signed_in("amina", Role.LOAN_OFFICER)
    for path in ("/escrows", f"/escrows/{escrow['id']}"):
        page = browser.get(path)
        assert page.status_code == 403 and "Not for your role" in page.text
    assert 'href="/escrows"' not in browser.get("/").text
