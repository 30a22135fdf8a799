from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from tq.users.models import Role, User, UserCard


class PublicUserOut(BaseModel):
    """A user as other people see them: no email."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    name: str
    role: Role
    streamId: str
    avatar: str | None = None
    profileImage: Annotated[str | None, Field(description="Same as avatar (frontend's name)")] = (
        None
    )

    @classmethod
    def of(cls, user: User | UserCard) -> PublicUserOut:
        return cls.model_construct(**_public(user))


class UserOut(PublicUserOut):
    """A user as they see themselves."""

    email: str
    timezone: Annotated[str | None, Field(description="IANA zone name, or null (UTC)")] = None
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(cls, user: User | UserCard) -> UserOut:
        assert isinstance(user, User), "a user sees their whole record"
        return cls.model_construct(
            **_public(user),
            email=user.email,
            timezone=user.timezone,
            createdAt=user.created_at,
            updatedAt=user.updated_at,
        )


def _public(user: User | UserCard) -> dict[str, Any]:
    # From a stored user, whose fields were checked when written: the response models are
    # built without validating them again (tests/unit/users/test_schemas.py holds the JSON
    # equal to the validated models').
    return {
        "id": str(user.id),
        "name": user.name,
        "role": user.role,
        "streamId": user.stream_id,
        "avatar": user.avatar,
        "profileImage": user.avatar,
    }
