"""One error hierarchy, rendered as one JSON shape: {"error", "message", "details"?}."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic
from odmantic.exceptions import DocumentNotFoundError, DuplicateKeyError
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError
from sanic import Request, json
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse

log = logging.getLogger("tq.errors")


class AppError(Exception):
    """Base of every error the API answers with on purpose."""

    status_code: int = 500
    code: str = "internal_error"
    message: str = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = list(details) if details else None
        self.headers = dict(headers or {})
        # Further top-level fields of the error body (declared in ErrorOut), e.g. `opensAt`.
        self.extra = dict(extra or {})
        super().__init__(self.message)


class BadRequest(AppError):
    status_code, code, message = 400, "bad_request", "Bad request"


class ValidationFailed(AppError):
    status_code, code, message = 400, "validation_error", "The request is not valid"


class Unauthorized(AppError):
    status_code, code, message = 401, "unauthorized", "Authentication required"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(AppError):
    status_code, code, message = 403, "forbidden", "You are not allowed to do this"


class NotFound(AppError):
    status_code, code, message = 404, "not_found", "Not found"


class Conflict(AppError):
    status_code, code, message = 409, "conflict", "Conflict"


class Gone(AppError):
    status_code, code, message = 410, "gone", "This no longer exists"


class PayloadTooLarge(AppError):
    status_code, code, message = 413, "payload_too_large", "The request is too large"


class UnsupportedMediaType(AppError):
    status_code, code = 415, "unsupported_media_type"
    message = "Send a JSON body (Content-Type: application/json)"


class TooManyRequests(AppError):
    status_code, code, message = 429, "too_many_requests", "Too many requests"


class ServiceUnavailable(AppError):
    status_code, code, message = 503, "service_unavailable", "Service temporarily unavailable"


class GatewayTimeout(AppError):
    status_code, code, message = 504, "gateway_timeout", "A backend did not answer in time"


def validation_details(exc: pydantic.ValidationError) -> list[dict[str, str]]:
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        # A union's branch shows in `loc` as a tag such as `function-after[...]`: not a field.
        parts = [str(p) for p in error["loc"] if not ("[" in str(p) or "(" in str(p))]
        field = ".".join(parts) or "body"
        details.append({"field": field, "problem": str(error["msg"])})
    return details


# Sanic's own exceptions (routing, body parsing, size limits) get stable machine codes.
SANIC_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    416: "range_not_satisfiable",
    503: "service_unavailable",
}


def as_app_error(exc: BaseException) -> AppError:
    """Map any exception to the AppError the client sees (unknown ones become a bare 500)."""
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, pydantic.ValidationError):
        return ValidationFailed(details=validation_details(exc))
    if isinstance(exc, DuplicateKeyError):
        return Conflict("That resource already exists", code="duplicate")
    if isinstance(exc, DocumentNotFoundError):
        return NotFound()
    if isinstance(exc, ServerSelectionTimeoutError | ConnectionFailure):
        return ServiceUnavailable("The database is unavailable", code="database_unavailable")
    if isinstance(exc, SanicException):
        status = exc.status_code
        if status >= 500:
            return AppError()
        error = AppError(
            str(exc.message or exc) if status != 404 else "No such resource",
            code=SANIC_CODES.get(status, "http_error"),
            headers=getattr(exc, "headers", None) or None,
        )
        error.status_code = status
        return error
    return AppError()


def error_response(error: AppError, request_id: str | None = None) -> HTTPResponse:
    body: dict[str, Any] = {"error": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    body.update(error.extra)
    headers = dict(error.headers)
    if request_id:
        headers["X-Request-ID"] = request_id
    return json(body, status=error.status_code, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """The methods a path serves (Sanic leaves Allow out for methods it does not know)."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        try:
            request.app.router.get(request.path, method, request.headers.get("host"))
        except SanicException:
            continue
        allowed.append(method)
    return allowed


class JSONErrorHandler(ErrorHandler):
    """Renders every error, ours or Sanic's, as JSON; a 500 never leaks exception text."""

    @staticmethod
    def log(request: Request, exception: Exception) -> None:
        """By route, never by URL: Sanic's own writes the whole URL, whose query may hold a
        token (the shared editor's WebSocket takes it there)."""
        if getattr(exception, "quiet", False) or isinstance(exception, AppError):
            return
        log.error(
            "error in %s: %s",
            request.route.path if request and request.route else "-",
            type(exception).__name__,
            exc_info=exception,
        )

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        error = as_app_error(exception)
        if error.status_code == 405 and "Allow" not in error.headers and request:
            error.headers["Allow"] = ", ".join(allowed_methods(request))
        request_id = getattr(request.ctx, "request_id", None) if request else None
        if error.status_code >= 500 and not isinstance(exception, AppError | SanicException):
            log.error(
                "unhandled error request_id=%s route=%s: %s",
                request_id,
                request.route.path if request and request.route else "-",
                type(exception).__name__,
                exc_info=exception,
            )
        elif error.status_code >= 500:
            log.warning("request_id=%s %s: %s", request_id, error.code, error.message)
        return error_response(error, request_id)
