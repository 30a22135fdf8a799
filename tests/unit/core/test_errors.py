"""Unit tests of tq.core.errors: mapping exceptions to API errors, validation details."""

from __future__ import annotations

from typing import Annotated

import pydantic
import pymongo.errors
import pytest
from odmantic.exceptions import DocumentNotFoundError, DuplicateKeyError
from sanic import exceptions as sanic_exceptions

from tq.core.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
    as_app_error,
    validation_details,
)
from tq.users.models import User


def _user() -> User:
    return User(email="a@example.com", password="x", name="A", stream_id="s")


def test_a_duplicate_key_becomes_a_409_duplicate() -> None:
    driver = pymongo.errors.DuplicateKeyError("E11000 duplicate key error")
    error = as_app_error(DuplicateKeyError(_user(), driver))
    assert isinstance(error, Conflict)
    assert (error.status_code, error.code) == (409, "duplicate")
    assert error.message == "That resource already exists"


def test_an_unknown_exception_becomes_a_bare_500_without_its_text() -> None:
    error = as_app_error(RuntimeError("password=hunter2"))
    assert type(error) is AppError
    assert (error.status_code, error.code, error.message) == (
        500,
        "internal_error",
        "Internal server error",
    )


def test_an_app_error_is_kept_as_it_is() -> None:
    original = BadRequest("nope", code="x")
    assert as_app_error(original) is original


def test_database_errors_map_to_404_and_503() -> None:
    assert isinstance(as_app_error(DocumentNotFoundError(_user())), NotFound)
    down = as_app_error(pymongo.errors.ServerSelectionTimeoutError("no server"))
    assert isinstance(down, ServiceUnavailable)
    assert (down.status_code, down.code) == (503, "database_unavailable")


@pytest.mark.parametrize(
    ("exc", "status", "code", "message"),
    [
        (sanic_exceptions.NotFound("/secret/path"), 404, "not_found", "No such resource"),
        (sanic_exceptions.MethodNotAllowed("no", "PUT", ["GET"]), 405, "method_not_allowed", "no"),
        (sanic_exceptions.SanicException("teapot", status_code=418), 418, "http_error", "teapot"),
        (sanic_exceptions.ServerError("boom"), 500, "internal_error", "Internal server error"),
    ],
)
def test_sanic_exceptions_get_stable_codes(
    exc: Exception, status: int, code: str, message: str
) -> None:
    error = as_app_error(exc)
    assert (error.status_code, error.code, error.message) == (status, code, message)


def _same(value: str) -> str:
    return value


class _Body(pydantic.BaseModel):
    name: str
    tags: list[int]
    text: Annotated[str, pydantic.AfterValidator(_same)] | list[int] = ""


def test_validation_details_name_fields_by_dotted_path() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        _Body.model_validate({"tags": [1, "x"], "text": 5})
    details = validation_details(caught.value)
    assert details == [
        {"field": "name", "problem": "Field required"},
        {
            "field": "tags.1",
            "problem": "Input should be a valid integer, unable to parse string as an integer",
        },
        # the union's branch tags (`function-after[...]`, `list[int]`) are not fields
        {"field": "text", "problem": "Input should be a valid string"},
        {"field": "text", "problem": "Input should be a valid list"},
    ]
    error = as_app_error(caught.value)
    assert isinstance(error, ValidationFailed) and error.details == details


def test_validation_details_of_a_model_level_error_name_the_body() -> None:
    class Both(pydantic.BaseModel):
        @pydantic.model_validator(mode="after")
        def refuse(self) -> Both:
            raise ValueError("nothing to change")

    with pytest.raises(pydantic.ValidationError) as caught:
        Both.model_validate({})
    assert validation_details(caught.value) == [
        {"field": "body", "problem": "Value error, nothing to change"}
    ]
