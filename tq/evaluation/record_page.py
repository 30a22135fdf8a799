"""The post-interview record as one printable HTML page: a Jinja2 template with its styles
inline, the score chart as inline SVG and the code playback as one inline script (allowed by
its hash in the page's CSP, its data as inline JSON), so the page needs nothing else to load."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from bson import ObjectId
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from tq.collab.service import user_color
from tq.evaluation.schemas import RecordOut

pages = Environment(
    loader=PackageLoader("tq.evaluation", "templates"),
    autoescape=select_autoescape(["html.j2"]),
    undefined=StrictUndefined,
)

PLAYBACK_SCRIPT = (files("tq.evaluation") / "templates" / "playback.js").read_text("utf-8")
# The page's CSP allows this one script and nothing else.
PLAYBACK_SCRIPT_HASH = base64.b64encode(hashlib.sha256(PLAYBACK_SCRIPT.encode()).digest()).decode()
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src 'sha256-{PLAYBACK_SCRIPT_HASH}'"
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


def inline_json(value: Any) -> Markup:
    """JSON safe inside a <script> element: no `<`, `>` or `&` can close it or open another."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)  # noqa: S704 - escaped above for a script element


def playback_data(record: RecordOut) -> dict[str, Any]:
    code = record.code
    frames = [
        {
            "position": frame.position,
            "at": frame.at.isoformat(),
            "author": (frame.author.name or "former member") if frame.author else "server",
            "color": user_color(ObjectId(frame.author.id)) if frame.author else "#7b8794",
            "start": frame.editStart,
            "deleted": frame.editDeleted,
            "inserted": frame.editInserted,
        }
        for frame in code.timeline
    ]
    markers = [
        {"kind": "run", "position": run.position, "label": f"run {run.language} ({run.status})"}
        for run in code.runs
        if run.position is not None
    ] + [
        {
            "kind": signal.kind,
            "position": signal.position,
            "label": f"{signal.kind.replace('_', ' ')}: {signal.inserted} characters",
        }
        for signal in code.signals
    ]
    return {"frames": frames, "markers": markers}


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
        "playback_data": inline_json(playback_data(record)),
        "playback_script": Markup(PLAYBACK_SCRIPT),  # noqa: S704 - our own file
        "chart": {
            "label_width": LABEL_WIDTH,
            "bar_width": BAR_WIDTH,
            "bar_height": BAR_HEIGHT,
            "height": max(1, len(bars)) * (BAR_HEIGHT + BAR_GAP),
            "max": MAX_RATING,
        },
    }
    return pages.get_template("record.html.j2").render(context)
