from __future__ import annotations

from datetime import datetime
from typing import Annotated

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
        return cls(
            _id=str(user.id),
            name=user.name,
            role=user.role,
            streamId=user.stream_id,
            avatar=user.avatar,
            profileImage=user.avatar,
        )


class UserOut(PublicUserOut):
    """A user as they see themselves."""

    email: str
    timezone: Annotated[str | None, Field(description="IANA zone name, or null (UTC)")] = None
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(cls, user: User | UserCard) -> UserOut:
        assert isinstance(user, User), "a user sees their whole record"
        public = PublicUserOut.of(user).model_dump(by_alias=True)
        return cls(
            **public,
            email=user.email,
            timezone=user.timezone,
            createdAt=user.created_at,
            updatedAt=user.updated_at,
        )
