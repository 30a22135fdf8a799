"""One decorator that documents an operation from its pydantic request/response models."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from sanic_ext.extensions.openapi import openapi
from sanic_ext.extensions.openapi.builders import SpecificationBuilder
from sanic_ext.extensions.openapi.definitions import Parameter, Reference, RequestBody, Response
from sanic_ext.extensions.openapi.types import Schema

from tq.core.schemas import ErrorOut

F = TypeVar("F", bound=Callable[..., Any])

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    302: "Redirect (Location)",
    400: "Bad request or invalid input",
    401: "Missing or invalid token",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Body too large",
    415: "The body is not JSON",
    429: "Too many requests",
    502: "An upstream service (an identity provider) failed",
    503: "A dependency is unavailable",
    504: "A backend did not answer in time",
}


def doc(
    *,
    summary: str,
    tag: str,
    ok: Mapping[int, type[BaseModel] | str | None],
    errors: tuple[int, ...] = (),
    body: type[BaseModel] | None = None,
    raw_body: tuple[str, ...] = (),
    query: type[BaseModel] | None = None,
    auth: bool = True,
    description: str | None = None,
) -> Callable[[F], F]:
    # Models go in as components whose schema comes from pydantic itself (sanic-ext's own
    # conversion of an inline model loses Literal types and leaves dangling $defs).
    # A model is JSON; a string names another media type, served as text.
    responses = [
        Response(
            {model: RawSchema({"type": "string"})}
            if isinstance(model, str)
            else {"application/json": component(model)}
            if model
            else {},
            status=status,
            description=STATUS_TEXT.get(status, ""),
        )
        for status, model in ok.items()
    ]
    error_codes = set(errors) | {400} | ({401} if auth else set())
    if body is not None or raw_body:
        error_codes |= {413, 415}
    responses += [
        Response(
            {"application/json": component(ErrorOut)},
            status=status,
            description=STATUS_TEXT[status],
        )
        for status in sorted(error_codes)
    ]
    parameters: list[Any] = []
    if query is not None:
        schema = query.model_json_schema(by_alias=True)
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                Parameter(
                    name,
                    RawSchema(to_openapi30(_inline_refs(prop, schema.get("$defs", {})))),
                    location="query",
                    required=name in schema.get("required", []),
                )
            )
    return openapi.definition(
        summary=summary,
        description=description,
        tag=tag,
        # Every body this API takes is required: a request without one is refused.
        body=RequestBody({"application/json": component(body)}, required=True)
        if body
        else RequestBody(
            {media: RawSchema({"type": "string", "format": "binary"}) for media in raw_body},
            required=True,
        )
        if raw_body
        else None,
        response=responses,
        parameter=parameters or None,
        secured={"bearerAuth": []} if auth else None,
    )


class RawSchema(Schema):
    """A schema served exactly as given: sanic-ext's Schema(**...) drops keys it does not know
    (an array's `items` among them), and a plain dict would be described, not served."""

    def __init__(self, raw: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._raw = raw

    def serialize(self) -> dict[str, Any]:
        return self._raw


def _inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    """Query parameters cannot point into a model's $defs: inline what they refer to."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline_refs(value, defs) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline_refs(item, defs) for item in schema]
    return schema


def to_openapi30(schema: Any) -> Any:
    """Pydantic writes JSON Schema 2020-12 (OpenAPI 3.1); sanic-ext serves OpenAPI 3.0.3.
    The differences that matter here: `{"type": "null"}` alternatives become `nullable`, and
    `const` becomes a one-value `enum`."""
    if isinstance(schema, list):
        return [to_openapi30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: to_openapi30(value) for key, value in schema.items()}
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    if "default" in schema and schema["default"] is None and not _allows_null(schema):
        del schema["default"]  # absent-means-unset fields that may not be sent as null
    for keyword in ("anyOf", "oneOf"):
        options = schema.get(keyword)
        if not isinstance(options, list) or {"type": "null"} not in options:
            continue
        rest = [option for option in options if option != {"type": "null"}]
        del schema[keyword]
        schema["nullable"] = True
        if len(rest) == 1 and "$ref" not in rest[0]:
            schema = {**rest[0], **schema}
            if "enum" in schema and None not in schema["enum"]:
                schema["enum"] = [*schema["enum"], None]  # 3.0.3: null must be listed
        elif len(rest) == 1:
            # A $ref may have no siblings in 3.0, and `nullable` counts only beside a `type`
            # (3.0.3): "the referenced object, or null", as strict validators read it.
            del schema["nullable"]
            schema["anyOf"] = [*rest, {"type": "object", "nullable": True, "enum": [None]}]
        else:
            schema[keyword] = rest
    return schema


def _allows_null(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf") or schema.get("oneOf") or []
    return (
        schema.get("type") == "null" or {"type": "null"} in options or bool(schema.get("nullable"))
    )


def component(model: type[BaseModel]) -> Reference:
    """Register `model` (and the models it nests) under #/components/schemas, once."""
    spec = SpecificationBuilder()
    name = model.__name__
    if not spec.has_component("schemas", name):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for nested, definition in schema.pop("$defs", {}).items():
            if not spec.has_component("schemas", nested):
                spec.add_component("schemas", nested, to_openapi30(definition))
        spec.add_component("schemas", name, to_openapi30(schema))
    return Reference(f"#/components/schemas/{name}")
