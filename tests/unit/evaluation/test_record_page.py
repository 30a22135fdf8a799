"""Unit tests of tq.evaluation.record_page: inline JSON for a script element, chart bars."""

from __future__ import annotations

import json

from markupsafe import Markup

from tq.evaluation.record_page import Bar, chart_bars, inline_json
from tq.evaluation.schemas import (
    BlindScorecards,
    CriterionSummary,
    RecommendationTally,
    RecordOut,
    ScoreSummary,
)


def test_inline_json_escapes_what_could_close_a_script() -> None:
    value = {"code": "</script><script>alert(1)</script> && x > 1", "sep": "a\u2028b\u2029c"}
    text = inline_json(value)
    assert isinstance(text, Markup)
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in text
    assert json.loads(str(text)) == value


def test_inline_json_is_compact_and_keeps_other_unicode() -> None:
    assert inline_json({"k": "<é&>", "n": [1, None]}) == (
        '{"k":"\\u003cé\\u0026\\u003e","n":[1,null]}'
    )


def _record(summary: ScoreSummary | None) -> RecordOut:
    return RecordOut.model_construct(
        scorecards=BlindScorecards(visible=summary is not None, scorecards=[], summary=summary)
    )


def test_chart_bars_one_per_criterion_scaled_to_the_top_rating() -> None:
    summary = ScoreSummary(
        submitted=3,
        criteria={
            "problem_solving": CriterionSummary(mean=3.0, count=2),
            "testing": CriterionSummary(mean=None, count=0),
            "communication": CriterionSummary(mean=1.33, count=3),
        },
        recommendations=RecommendationTally(strong_no=0, no=0, yes=0, strong_yes=0),
    )
    assert chart_bars(_record(summary)) == [
        Bar("problem_solving", 3.0, 2, 0, 270),  # 360 * 3 / 4
        Bar("testing", None, 0, 40, 0),  # y: 28 high + 12 apart
        Bar("communication", 1.33, 3, 80, 120),  # 360 * 1.33 / 4 = 119.7
    ]


def test_chart_bars_of_hidden_scorecards_are_none() -> None:
    assert chart_bars(_record(None)) == []
