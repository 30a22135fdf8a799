"""Schema pieces shared by every domain: the request body base, the date-time type the API
speaks, the error shape, and how a response model becomes JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

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


def dump(model: BaseModel) -> dict[str, object]:
    """JSON-ready dict with aliases (`_id`)."""
    return model.model_dump(mode="json", by_alias=True)
