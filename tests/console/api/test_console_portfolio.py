"""The portfolio-at-risk page: PAR per currency as a server-side SVG chart with a table of the
same numbers, and the CSV download (loans' own: integer minor units beside a currency column)."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

from services.console.domain.formatting import money, percent
from shared.auth import Role
from tests.console.api.test_console_loans import book_loan
from tests.console.kit import World, post_form


def _par(world: World, **params: Any) -> dict[str, Any]:
    return dict(world.api("loans", "GET", "/v1/portfolio/par", params=params or None))


def test_the_par_page_shows_a_chart_and_a_table_of_the_same_numbers(world: World) -> None:
    book_loan(world, name="Achieng Otieno")  # 15 days past due on the business date
    book_loan(world, name="Baraka Mwangi", disburse=False)  # approved, nothing outstanding yet
    report = _par(world)
    (kes,) = report["currencies"]
    total = kes["total"]
    assert total["loan_count"] == 1 and Decimal(total["par1"]["ratio"]) == 1
    assert total["par30"]["loans_at_risk"] == 0

    auditor = world.signed_in("olu", Role.AUDITOR)
    page = auditor.get("/portfolio")
    assert page.status_code == 200
    labelled = re.search(r'<svg [^>]*role="img"[^>]*aria-labelledby="(chart-\w+)-title \1-desc"', page.text)
    assert labelled is not None
    ident = labelled.group(1)
    assert f'<title id="{ident}-title">Portfolio at risk as of 2 Mar 2026</title>' in page.text
    desc = re.search(rf'<desc id="{ident}-desc">([^<]+)</desc>', page.text)
    assert desc is not None and "KES PAR1 100.0%" in desc.group(1) and "KES PAR90 0.0%" in desc.group(1)
    assert page.text.count("<rect ") == 3  # PAR1, PAR30, PAR90 of the one currency

    table = page.text.split("<caption>PAR in KES</caption>")[1].split("</table>")[0]
    for key in ("par1", "par30", "par90"):
        figure = total[key]
        row = table.split(f'<th scope="row">PAR{figure["threshold_days"]}</th>')[1].split("</tr>")[0]
        assert money(figure["at_risk_principal_minor"], "KES", "en") in row
        assert f'<td class="num">{figure["loans_at_risk"]}</td>' in row
        assert percent(Decimal(figure["ratio"]), "en") in row
    assert money(total["outstanding_principal_minor"], "KES", "en") in page.text
    products = page.text.split("<caption>PAR in KES by product</caption>")[1].split("</table>")[0]
    assert kes["by_product"][0]["product_name"] in products
    assert 'href="/portfolio/par.csv?as_of=2026-03-02"' in page.text

    assert post_form(auditor, "/language", {"language": "zh", "next": "/"}, from_page="/").status_code == 303
    chinese = auditor.get("/portfolio")
    assert chinese.status_code == 200 and 'lang="zh-Hans"' in chinese.text
    assert percent(Decimal(total["par1"]["ratio"]), "zh") in chinese.text


def test_the_par_csv_downloads_parses_and_matches_the_json(world: World) -> None:
    book_loan(world, name="Achieng Otieno")
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    answer = client.get("/portfolio/par.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == 'attachment; filename="par-2026-03-02.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    header = answer.text.splitlines()[0].split(",")
    assert "currency" in header and "outstanding_principal_minor" in header  # money in minor units

    (kes,) = _par(world)["currencies"]
    by_product = {r["product_id"]: r for r in rows}
    assert set(by_product) == {"ALL", *(p["product_id"] for p in kes["by_product"])}
    for line, summary in [
        (by_product["ALL"], kes["total"]),
        *((by_product[p["product_id"]], p) for p in kes["by_product"]),
    ]:
        assert line["currency"] == "KES" and line["as_of"] == "2026-03-02"
        assert int(line["loan_count"]) == summary["loan_count"]
        assert int(line["outstanding_principal_minor"]) == summary["outstanding_principal_minor"]
        for key in ("par1", "par30", "par90"):
            assert int(line[f"{key}_principal_minor"]) == summary[key]["at_risk_principal_minor"]
            assert int(line[f"{key}_loans"]) == summary[key]["loans_at_risk"]
            assert Decimal(line[f"{key}_ratio"]) == Decimal(summary[key]["ratio"])

    earlier = client.get("/portfolio/par.csv", params={"as_of": "2026-02-01"})
    assert earlier.headers["content-disposition"] == 'attachment; filename="par-2026-02-01.csv"'
    (line,) = [r for r in csv.DictReader(io.StringIO(earlier.text)) if r["product_id"] == "ALL"]
    assert int(line["par1_loans"]) == 0  # nothing was due yet on 1 February


def test_an_empty_book_says_so_and_the_page_admits_only_lending_roles(world: World) -> None:
    page = world.signed_in("carol", Role.CREDIT_MANAGER).get("/portfolio")
    assert page.status_code == 200 and "No loans are outstanding on this date." in page.text
    assert "<svg" not in page.text
    ops = world.signed_in("ops", Role.MARKETPLACE, owner="shop-1")
    assert ops.get("/portfolio").status_code == 403
    assert ops.get("/portfolio/par.csv").status_code == 403
