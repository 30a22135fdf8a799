"""Unit tests of tq.users.schemas: the user JSON built without validation (issue 24) is the JSON
the validated models gave, byte for byte."""

from __future__ import annotations

from datetime import datetime

import bson.tz_util
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st
from sanic.helpers import json_dumps

from tq.auth.schemas import MeOut
from tq.core.schemas import dump
from tq.users.models import User, UserCard
from tq.users.schemas import PublicUserOut, UserOut

_moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 12, 31),
    timezones=st.just(bson.tz_util.utc),
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
_text = st.text(min_size=1, max_size=20)  # any unicode


@st.composite
def _users(draw: st.DrawFn) -> User:
    return User(
        email=draw(_text),
        password="$argon2id$not-shown",
        name=draw(_text),
        role=draw(st.sampled_from(["candidate", "interviewer"])),
        stream_id=draw(_text),
        avatar=draw(st.none() | _text),
        timezone=draw(st.none() | st.sampled_from(["Europe/Paris", "America/New_York"])),
        created_at=draw(_moments),
        updated_at=draw(_moments),
    )


def _validated_public(user: User | UserCard) -> PublicUserOut:
    """How PublicUserOut was built before issue 24: through the validating constructor."""
    return PublicUserOut(
        _id=str(user.id),
        name=user.name,
        role=user.role,
        streamId=user.stream_id,
        avatar=user.avatar,
        profileImage=user.avatar,
    )


@given(user=_users())
@settings(max_examples=200, deadline=None)
def test_me_without_validation_is_the_validated_json(user: User) -> None:
    validated = MeOut(
        user=UserOut(
            **_validated_public(user).model_dump(by_alias=True),
            email=user.email,
            timezone=user.timezone,
            createdAt=user.created_at,
            updatedAt=user.updated_at,
        )
    )
    straight = MeOut.model_construct(user=UserOut.of(user), token=None)
    assert json_dumps(dump(straight)) == json_dumps(dump(validated))
    assert "password" not in dump(straight)["user"]


@given(user=_users())
@settings(max_examples=100, deadline=None)
def test_a_public_card_without_validation_is_the_validated_json(user: User) -> None:
    card = UserCard(
        id=ObjectId(),
        name=user.name,
        role=user.role,
        stream_id=user.stream_id,
        avatar=user.avatar,
        email=user.email,
        timezone=None,
    )
    shown = json_dumps(dump(PublicUserOut.of(card)))
    assert shown == json_dumps(dump(_validated_public(card)))
    assert "email" not in dump(PublicUserOut.of(card))
