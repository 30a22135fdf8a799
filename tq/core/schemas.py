"""Schema pieces shared by every domain: the request body base, the date-time type the API
speaks, the error shape, and how a response model becomes JSON."""

from __future__ import annotations

import re
import sys
import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from tq.core.time import to_millis


class Body(BaseModel):
    """Every JSON request body: unknown fields are refused, and types are not coerced (a "5"
    is not the number 5), so the server accepts exactly what the OpenAPI spec describes."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Every query string: unknown parameters are refused; values arrive as text, so they are
    converted to the declared types."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _iso_only(value: object) -> object:
    # Pydantic would take numbers (and numeric strings) as Unix times; the API speaks ISO-8601.
    if isinstance(value, datetime):
        return value
    # RFC 3339 allows a lower-case `t` and `z`; Python's parser wants neither.
    if isinstance(value, str) and len(value) > 10 and value[10] in "Tt":
        text = value[:10] + "T" + value[11:]
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
    raise ValueError("must be an ISO-8601 date-time such as 2026-01-31T09:30:00Z")


# An ISO-8601 date-time; one without a zone is taken as UTC. Kept to milliseconds like MongoDB.
UtcDatetime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(to_millis)]


# "Has a character that is not whitespace", spelled out so that ECMA-262 (generated clients),
# Python's `re` and pydantic's Rust regex all read it the same (their `\s` differ).
NON_BLANK = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"


def _hidden_ranges() -> str:
    """A character class body of every code point that is a control (Cc: NUL, CR, LF, U+0085),
    a format character (Cf: bidi overrides, zero-width spaces and joiners, BOM), a line or
    paragraph separator (U+2028, U+2029) or a lone surrogate: what breaks a mail header or a
    calendar line, or makes a title read differently than it is."""
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))

    def char(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    return "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges)


HIDDEN = _hidden_ranges()
# One line of visible text with at least one non-blank character: titles and names, which end
# up in email headers, calendar lines and other people's screens. The spec's full-match pattern
# (a lookahead for the non-blank character, so it runs in linear time; a plain
# `[^H]*N[^H]*` backtracks quadratically on a long value that fails) and the server's check
# accept the same strings.
# (`(?![\s\S])` ends the string in ECMA-262 and Python alike: Python's `$` also matches
# before a final newline.)
PLAIN_LINE = f"^(?=[^{HIDDEN}]*?{NON_BLANK})[^{HIDDEN}]*(?![\\s\\S])"
_HIDDEN_CHAR = re.compile(f"[{HIDDEN}]")
_NON_BLANK_CHAR = re.compile(NON_BLANK)


def _plain_line(value: object) -> object:
    # Checked before stripping, on what was sent: a tab or a NUL is refused, not trimmed away.
    # Two linear scans, whatever the length.
    if not isinstance(value, str):
        return value
    if _HIDDEN_CHAR.search(value):
        raise ValueError(
            "must be one line of visible text: no control characters, line breaks, "
            "bidi overrides or zero-width characters"
        )
    if not _NON_BLANK_CHAR.search(value):
        raise ValueError("must not be blank")
    return value


PLAIN_LINE_CHECK = BeforeValidator(_plain_line)


def plain_line_schema(max_length: int) -> WithJsonSchema:
    """What the spec says of a one-line title or name (`PLAIN_LINE_CHECK` is the server's)."""
    return WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": PLAIN_LINE}
    )


# Scorecard criteria: a session's, and an organization's defaults for its new sessions.
Criterion = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Criteria = Annotated[
    list[Criterion],
    Field(
        min_length=1,
        max_length=10,
        json_schema_extra={"uniqueItems": True},
        description="scorecard criteria (unique); only until the first scorecard is submitted",
    ),
]


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorOut(BaseModel):
    error: str
    message: str
    details: list[ErrorDetail] | None = None
    opensAt: datetime | None = Field(
        default=None, description="409 too_early: when the session's room opens"
    )
    loginUrl: str | None = Field(
        default=None,
        description="403 sso_required: where this account signs in (its organization's provider)",
    )


def dump(model: BaseModel, *, exclude_unset: bool = False) -> Any:
    """JSON-ready data with aliases (`_id`): what every view answers. `exclude_unset` leaves
    out the fields nobody set (Piston's answer omits a stage it did not run)."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=exclude_unset)
