"""Unit tests of tq.auth.schemas: the PATCH /me body's rules."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from tq.auth.schemas import UpdateMeIn


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Ann"},
        {"timezone": None},
        {"timezone": "Europe/Paris"},
        {"avatar": ""},
        {"password": "new-password-1", "currentPassword": "old"},
    ],
)
def test_update_me_accepts(body: dict[str, Any]) -> None:
    parsed = UpdateMeIn.model_validate(body)
    assert parsed.model_fields_set == set(body)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "nothing to change"),
        ({"password": "new-password-1"}, "currentPassword is required"),
        ({"name": None}, "name cannot be null"),
        ({"password": None, "currentPassword": "old"}, "password cannot be null"),
        ({"timezone": "Mars/Olympus"}, "IANA time zone"),
        ({"name": "Ann", "role": "interviewer"}, "Extra inputs are not permitted"),
        ({"password": "short", "currentPassword": "old"}, "at least 8 characters"),
    ],
)
def test_update_me_refuses(body: dict[str, Any], problem: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=problem):
        UpdateMeIn.model_validate(body)


def test_update_me_keeps_the_new_and_current_password() -> None:
    parsed = UpdateMeIn.model_validate({"password": "new-password-1", "currentPassword": "old"})
    assert (parsed.password, parsed.currentPassword, parsed.name) == ("new-password-1", "old", None)
