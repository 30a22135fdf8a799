from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Status = Literal["up", "down"]


class LiveOut(BaseModel):
    status: Literal["ok"]
    version: str


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    mongo: Status
    redis: Status
    version: str
    pendingJobs: int | None = None
