"""One decorator that documents an operation from its pydantic request/response models."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from sanic_ext.extensions.openapi import openapi
from sanic_ext.extensions.openapi.definitions import Parameter, Response

from tq.core.schemas import ErrorOut

F = TypeVar("F", bound=Callable[..., Any])

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    400: "Bad request or invalid input",
    401: "Missing or invalid token",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    429: "Too many requests",
    503: "A dependency is unavailable",
}


def doc(
    *,
    summary: str,
    tag: str,
    ok: Mapping[int, type[BaseModel] | None],
    errors: tuple[int, ...] = (),
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    auth: bool = True,
) -> Callable[[F], F]:
    responses = [
        Response(
            {"application/json": model} if model else {},
            status=status,
            description=STATUS_TEXT.get(status, ""),
        )
        for status, model in ok.items()
    ]
    error_codes = set(errors) | {400} | ({401} if auth else set())
    responses += [
        Response({"application/json": ErrorOut}, status=status, description=STATUS_TEXT[status])
        for status in sorted(error_codes)
    ]
    parameters: list[Any] = []
    if query is not None:
        schema = query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                Parameter(name, prop, location="query", required=name in schema.get("required", []))
            )
    return openapi.definition(
        summary=summary,
        tag=tag,
        body={"application/json": body} if body else None,
        response=responses,
        parameter=parameters or None,
        secured={"bearerAuth": []} if auth else None,
    )
