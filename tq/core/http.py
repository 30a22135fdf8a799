"""Request plumbing: request ids, one access-log line per request, body and query parsing."""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any, TypeVar, get_args, get_origin

import pydantic
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from tq.core.errors import UnsupportedMediaType, ValidationFailed, validation_details
from tq.core.metrics import HTTP_IN_FLIGHT, http_latency, http_requests

access_log = logging.getLogger("tq.access")
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


def setup_request_context(app: Sanic[Any, Any]) -> None:
    # Plain functions, not coroutines: they never wait, and Sanic then skips creating and
    # awaiting a coroutine per middleware per request.
    def assign_request_id(request: Request) -> None:
        incoming = request.headers.get("X-Request-ID", "")
        # Only an id that is safe to log is trusted; anything else gets a fresh one.
        request.ctx.request_id = (
            incoming if SAFE_REQUEST_ID.match(incoming) else secrets.token_hex(16)
        )
        request.ctx.started = time.perf_counter()
        # A WebSocket gets no response middleware to count it out again: not an HTTP request
        # in flight (the shared editor counts its own connections).
        if request.headers.get("upgrade", "").lower() != "websocket":
            request.ctx.in_flight = True
            HTTP_IN_FLIGHT.inc()

    def log_and_tag(request: Request, response: HTTPResponse) -> None:
        request_id = getattr(request.ctx, "request_id", None) or secrets.token_hex(16)
        response.headers["X-Request-ID"] = request_id
        started = getattr(request.ctx, "started", None)
        duration_ms = (time.perf_counter() - started) * 1000 if started else 0.0
        # The route template, never the raw path: ids and query strings stay out of logs.
        route = f"/{request.route.path}" if request.route else "<unmatched>"
        if getattr(request.ctx, "in_flight", False):
            request.ctx.in_flight = False
            HTTP_IN_FLIGHT.dec()
        http_requests(request.method, route, str(response.status)).inc()
        http_latency(request.method, route).observe(duration_ms / 1000)
        access_log.info(
            "%s %s %s %.1fms request_id=%s",
            request.method,
            route,
            response.status,
            duration_ms,
            request_id,
        )

    # Run first on the way in and last on the way out, around every other middleware.
    app.register_middleware(assign_request_id, "request", priority=100)
    app.register_middleware(log_and_tag, "response", priority=100)  # type: ignore[arg-type]


def client_address(request: Request) -> str:
    # remote_addr honours PROXIES_COUNT / FORWARDED_SECRET (behind a router); else the peer.
    return request.remote_addr or request.ip or "unknown"


def parse_json(request: Request, *, plain_text: bool = False) -> Any:
    """The JSON body. `plain_text`: also when sent as text/plain or with no type, as fetch()
    sends a string body (Piston's clients do)."""
    content_type = request.headers.get("content-type", "")
    lenient = plain_text and (not content_type or content_type.startswith("text/plain"))
    if request.body and "json" not in content_type and not lenient:
        raise UnsupportedMediaType()
    if not request.body:
        return {}
    return request.json  # Sanic raises BadRequest on malformed JSON


def parse_body(request: Request, model: type[ModelT], *, plain_text: bool = False) -> ModelT:
    data = parse_json(request, plain_text=plain_text)
    if not isinstance(data, dict):
        raise ValidationFailed(details=[{"field": "body", "problem": "must be a JSON object"}])
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationFailed(details=validation_details(exc)) from None


def _is_list_param(model: type[pydantic.BaseModel], key: str) -> bool:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return any(
                get_origin(arg) is list or arg is list
                for arg in (field.annotation, *get_args(field.annotation))
            )
    return False


def parse_query(request: Request, model: type[ModelT]) -> ModelT:
    data: dict[str, str | list[str]] = {}
    # Blank values are kept: `?before=` is a bad cursor, not an absent one.
    for key, values in request.get_args(keep_blank_values=True).items():
        many = _is_list_param(model, key)
        if len(values) > 1 and not many:
            # Refused rather than silently picking one; array parameters take them all.
            raise ValidationFailed(details=[{"field": key, "problem": "given more than once"}])
        data[key] = values if many else values[0]
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationFailed(details=validation_details(exc)) from None
