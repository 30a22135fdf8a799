from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from tq.core.schemas import Body
from tq.users.models import Role
from tq.users.schemas import UserOut

Password = Annotated[str, Field(min_length=8, max_length=128)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[EmailStr, AfterValidator(lambda value: value.strip().lower())]


def _url_or_empty(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    return str(AnyHttpUrl(value))


AvatarUrl = Annotated[str | None, Field(max_length=2048), AfterValidator(_url_or_empty)]


class RegisterIn(Body):
    email: Email
    password: Password
    name: Name
    role: Role = "candidate"


class LoginIn(Body):
    email: Annotated[
        str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=320)
    ]
    password: Annotated[str, Field(min_length=1, max_length=128)]


class UpdateMeIn(Body):
    name: Name | None = None
    avatar: AvatarUrl = None
    password: Password | None = None
    currentPassword: Annotated[str, Field(min_length=1, max_length=128)] | None = None

    @model_validator(mode="after")
    def password_needs_current(self) -> UpdateMeIn:
        if self.password is not None and self.currentPassword is None:
            raise ValueError("currentPassword is required to change the password")
        if not self.model_fields_set:
            raise ValueError("nothing to change: send name, avatar or password")
        return self


class DeleteMeIn(Body):
    password: Annotated[str, Field(min_length=1, max_length=128)]


class AuthOut(BaseModel):
    token: str
    user: UserOut


class MeOut(BaseModel):
    user: UserOut
    token: Annotated[str | None, Field(description="A fresh token, after a password change")] = None


class StreamTokenOut(BaseModel):
    token: str
    api_key: str
    apiKey: str
    userId: str
    userName: str
    userImage: str | None
    expiresAt: int
