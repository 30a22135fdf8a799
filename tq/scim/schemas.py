from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from tq.core.schemas import Body, UtcDatetime
from tq.scim.models import ScimToken


class ScimTokenIn(Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ScimTokenOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    createdAt: UtcDatetime
    lastUsedAt: UtcDatetime | None

    @classmethod
    def of(cls, token: ScimToken) -> ScimTokenOut:
        return cls(
            id=str(token.id),
            name=token.name,
            prefix=token.prefix,
            createdAt=token.created_at,
            lastUsedAt=token.last_used_at,
        )


class ScimTokenCreatedOut(BaseModel):
    scimToken: ScimTokenOut
    token: str = Field(description="shown once: only its hash is kept")
    baseUrl: str = Field(description="the SCIM 2.0 base URL to give the identity provider")


class ScimTokenList(BaseModel):
    tokens: list[ScimTokenOut]
    baseUrl: str
