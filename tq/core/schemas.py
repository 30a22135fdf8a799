"""Response shapes shared by every domain."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorOut(BaseModel):
    error: str
    message: str
    details: list[ErrorDetail] | None = None
