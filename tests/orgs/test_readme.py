"""The README's permission table is the code's, printed: a change to one without the other
fails here."""

from __future__ import annotations

from tests.support import ROOT
from tq.orgs.permissions import markdown_table


def test_readme_shows_the_permission_table_from_the_code() -> None:
    text = (ROOT / "README.md").read_text()
    start, end = "<!-- permissions:start -->\n", "\n<!-- permissions:end -->"
    assert start in text and end in text
    shown = text.split(start, 1)[1].split(end, 1)[0]
    assert shown == markdown_table()
