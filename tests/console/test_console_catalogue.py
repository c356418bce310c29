"""The Chinese catalogue translates every message the console's pages and code mark (Babel)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from services.console.pages import LOCALE, PACKAGE, translations

METHOD_MAP = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def _marked() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PACKAGE), METHOD_MAP, options_map=OPTIONS, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_marked_message_has_a_chinese_translation() -> None:
    with (LOCALE / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    missing = sorted(m for m in _marked() if not (catalog.get(m) and catalog.get(m).string))
    assert not missing, (
        f"{len(missing)} messages without a zh translation (make catalogues, then translate): {missing[:20]}"
    )


def test_placeholders_survive_translation() -> None:
    with (LOCALE / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    import re

    placeholder = re.compile(r"%\((\w+)\)s")
    for message in catalog:
        if message.id and message.string and isinstance(message.id, str):
            assert set(placeholder.findall(message.id)) == set(placeholder.findall(str(message.string))), (
                message.id
            )


def test_the_catalogue_compiles_and_translates() -> None:
    assert translations("zh").gettext("Sign in") != "Sign in"
    assert Path(LOCALE / "messages.pot").exists()
