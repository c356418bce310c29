"""Rendering: translated text is text — a value a template passes through _() cannot inject markup."""

from __future__ import annotations

from services.console.pages import environment


def test_a_translated_value_is_escaped() -> None:
    source = '<p>{{ _(value) }}</p><p>{{ _("Hello %(name)s", name=who) }}</p>'
    template = environment("en").from_string(source)
    html = template.render(value="<script>alert(1)</script>", who="<b>x</b>")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_a_literal_percent_sign_is_written_twice() -> None:
    assert environment("en").from_string('{{ _("100%% of it") }}').render() == "100% of it"
