"""The post-interview record as one printable HTML page: a Jinja2 template with its styles
inline and the score chart as inline SVG, so the page needs nothing else to load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tq.evaluation.schemas import RecordOut

pages = Environment(
    loader=PackageLoader("tq.evaluation", "templates"),
    autoescape=select_autoescape(["html.j2"]),
    undefined=StrictUndefined,
)

MAX_RATING = 4
BAR_HEIGHT = 28
BAR_GAP = 12
LABEL_WIDTH = 170
BAR_WIDTH = 360


@dataclass(frozen=True)
class Bar:
    label: str
    mean: float | None
    count: int
    y: int
    width: int


def chart_bars(record: RecordOut) -> list[Bar]:
    """One bar per criterion: its mean over the submitted scorecards the caller may see."""
    summary = record.scorecards.summary
    if summary is None:
        return []
    bars = []
    for i, (criterion, stats) in enumerate(summary.criteria.items()):
        width = round(BAR_WIDTH * (stats.mean or 0) / MAX_RATING)
        bars.append(Bar(criterion, stats.mean, stats.count, i * (BAR_HEIGHT + BAR_GAP), width))
    return bars


def render_record_page(record: RecordOut) -> str:
    names: dict[str, str] = {}
    session = record.session
    for person in [session.host, *session.participantsInfo]:
        names[person.id] = person.name
    bars = chart_bars(record)
    context: dict[str, Any] = {
        "record": record,
        "session": session,
        "names": names,
        "bars": bars,
        "chart": {
            "label_width": LABEL_WIDTH,
            "bar_width": BAR_WIDTH,
            "bar_height": BAR_HEIGHT,
            "height": max(1, len(bars)) * (BAR_HEIGHT + BAR_GAP),
            "max": MAX_RATING,
        },
    }
    return pages.get_template("record.html.j2").render(context)
