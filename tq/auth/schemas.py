from __future__ import annotations

import zoneinfo
from typing import Annotated

import idna
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from tq.core.schemas import PLAIN_LINE_CHECK, Body, plain_line_schema
from tq.core.stream import StreamGateway
from tq.users.models import Role, User
from tq.users.schemas import UserOut

Password = Annotated[str, Field(min_length=8, max_length=128)]
Name = Annotated[
    str,
    PLAIN_LINE_CHECK,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    plain_line_schema(100),
]


def normalize_email(value: str) -> str:
    # Syntax only (no DNS). `.test` names pass too: the suite's and the fuzzer's addresses.
    try:
        checked = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None
    return checked.normalized.lower()


def ascii_domain(domain: str) -> str:
    """A domain as DNS spells it: an internationalised one in its xn-- (IDNA 2008) form."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return idna.encode(domain, uts46=True).decode()
    except idna.IDNAError:
        return domain


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320),
    AfterValidator(normalize_email),
    Field(json_schema_extra={"format": "email"}),
]


def _url_or_empty(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    return str(AnyHttpUrl(value))


# An http(s) URL with a host name (no IP, no credentials), or "" (no avatar); the pattern is
# the rule, so the spec says exactly what is accepted.
AVATAR_URL = (
    r"^$|^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*"
    r"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?::[0-9]{1,4})?"
    r"(?:/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?(?:\?[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?$"
)
AvatarUrl = Annotated[
    str | None,
    StringConstraints(max_length=2048, pattern=AVATAR_URL),
    AfterValidator(_url_or_empty),
]


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


def _known_zone(value: str) -> str:
    if value not in ZONES:
        raise ValueError("must be an IANA time zone name such as Europe/Paris")
    return value


# The zones this machine's tz database knows; the spec lists exactly these.
ZONES = frozenset(zoneinfo.available_timezones())
TimeZoneName = Annotated[
    str, AfterValidator(_known_zone), Field(json_schema_extra={"enum": sorted(ZONES)})
]


class UpdateMeIn(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "minProperties": 1,
            # A new password comes with the current one.
            "anyOf": [
                {"not": {"required": ["password"]}},
                {"required": ["password", "currentPassword"]},
            ],
        }
    )

    name: Name | SkipJsonSchema[None] = None
    avatar: AvatarUrl = None
    timezone: Annotated[TimeZoneName | None, Field(description="null: back to UTC")] = None
    password: Password | SkipJsonSchema[None] = None
    currentPassword: Annotated[str, Field(min_length=1, max_length=128)] | SkipJsonSchema[None] = (
        None
    )

    @model_validator(mode="after")
    def password_needs_current(self) -> UpdateMeIn:
        if not self.model_fields_set:
            raise ValueError("nothing to change: send name, avatar, timezone or password")
        for field in ("name", "password", "currentPassword"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        if self.password is not None and self.currentPassword is None:
            raise ValueError("currentPassword is required to change the password")
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

    @classmethod
    def of(cls, user: User, stream: StreamGateway) -> StreamTokenOut:
        """A fresh Stream user token for `user`."""
        token, expires_at = stream.create_user_token(user.stream_id)
        return cls(
            token=token,
            api_key=stream.api_key,
            apiKey=stream.api_key,
            userId=user.stream_id,
            userName=user.name,
            userImage=user.avatar,
            expiresAt=expires_at,
        )
