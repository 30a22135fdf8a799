"""SCIM: the organization's tokens (`/api/orgs/{org_id}/scim/tokens`, owners and admins, in
the OpenAPI spec) and the SCIM 2.0 protocol itself (`/scim/v2`, RFC 7644: described by its
own discovery endpoints, answered as `application/scim+json`, errors as SCIM Errors)."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Blueprint, Request, empty, json
from sanic.response import HTTPResponse
from scim2_models import Context, Error, ListResponse, ResourceType, Schema

from tq.auth.dependencies import CurrentUser
from tq.core.clients import Clients
from tq.core.errors import AppError
from tq.core.http import client_address, parse_body
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.scim import resources, service
from tq.scim.schemas import ScimTokenCreatedOut, ScimTokenIn, ScimTokenList, ScimTokenOut
from tq.scim.service import ScimError, Scope

tokens_bp = Blueprint("scim_tokens", url_prefix="/api/orgs")
bp = Blueprint("scim", url_prefix="/scim/v2")
TAG = "single sign-on"
SCIM_JSON = "application/scim+json"


def base_url(clients: Clients) -> str:
    return f"{clients.settings.api_url}/scim/v2"


@tokens_bp.get("/<org_id:str>/scim/tokens")
@doc(
    summary="The organization's SCIM tokens (never the tokens themselves)",
    tag=TAG,
    ok={200: ScimTokenList},
    errors=(403, 404),
)
async def list_tokens(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    found = await service.list_tokens(clients, org_id, viewer)
    return json(
        dump(ScimTokenList(tokens=[ScimTokenOut.of(t) for t in found], baseUrl=base_url(clients)))
    )


@tokens_bp.post("/<org_id:str>/scim/tokens")
@doc(
    summary="Create a SCIM token for the identity provider (shown once)",
    tag=TAG,
    body=ScimTokenIn,
    ok={201: ScimTokenCreatedOut},
    errors=(403, 404, 409),
)
async def create_token(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, ScimTokenIn)
    created = await service.create_token(clients, org_id, viewer, data.name)
    out = ScimTokenCreatedOut(
        scimToken=ScimTokenOut.of(created.token), token=created.secret, baseUrl=base_url(clients)
    )
    response = json(dump(out), status=201)
    response.headers["cache-control"] = "no-store"
    return response


@tokens_bp.delete("/<org_id:str>/scim/tokens/<token_id:str>")
@doc(summary="Revoke a SCIM token", tag=TAG, ok={204: None}, errors=(403, 404))
async def revoke_token(
    request: Request, org_id: str, token_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    await service.revoke_token(clients, org_id, viewer, token_id)
    return empty()


# --- SCIM 2.0


def scim_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    return HTTPResponse(
        jsonlib.dumps(body, default=str),
        status=status,
        content_type=SCIM_JSON,
        headers=headers,
    )


def scim_error(status: int, detail: str, scim_type: str | None = None) -> HTTPResponse:
    error = Error(status=status, detail=detail, scim_type=scim_type)
    return scim_response(error.model_dump(), status)


async def _answer(
    request: Request, run: Callable[[Scope], Awaitable[HTTPResponse]]
) -> HTTPResponse:
    clients: Clients = request.app.ctx.clients
    try:
        try:
            scope = await service.authenticate(
                clients, request.headers.get("authorization"), base_url(clients)
            )
        except ScimError:
            await _refused_token(request)
            raise
        return await run(scope)
    except ScimError as exc:
        return scim_error(exc.status_code, exc.message, exc.scim_type)
    except AppError as exc:
        return scim_error(exc.status_code, exc.message)


async def _refused_token(request: Request) -> None:
    """A made-up token gets a fresh per-token budget from the rate limiter: refusals count
    against the client's address too (RATE_LIMIT_PUBLIC), past which it is 429."""
    limits = request.app.ctx.rate_limits
    if not limits.applies_to(request):
        return
    verdict = await limits.check(limits.public, f"addr:{client_address(request)}")
    if verdict is not None and not verdict.allowed:
        raise ScimError(429, "Too many requests with unknown SCIM tokens; try again later")


def _body(request: Request) -> Any:
    media = (request.content_type or "").split(";")[0].strip().lower()
    if media not in (SCIM_JSON, "application/json"):
        raise ScimError(415, "The body must be application/scim+json")
    try:
        return jsonlib.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ScimError(400, "The body is not JSON", "invalidSyntax") from None


def _params(request: Request) -> dict[str, str]:
    return {key: values[-1] for key, values in request.get_args(keep_blank_values=True).items()}


@bp.get("/ServiceProviderConfig")
async def service_provider_config(request: Request) -> HTTPResponse:
    async def run(scope: Scope) -> HTTPResponse:
        clients: Clients = request.app.ctx.clients
        config = resources.service_provider_config(scope.base, clients.settings.scim_max_page)
        return scim_response(config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))

    return await _answer(request, run)


def _listed(items: list[Any], model: Any) -> dict[str, Any]:
    page = ListResponse[model](
        total_results=len(items), start_index=1, items_per_page=len(items), resources=items
    )
    out: dict[str, Any] = page.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return out


def _one(items: list[Any], item_id: str, what: str) -> HTTPResponse:
    """One discovery document by id, or a SCIM 404."""
    for found in items:
        if found.id == item_id:
            return scim_response(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise ScimError(404, f"{what} {item_id} not found")


@bp.get("/ResourceTypes")
async def resource_types(request: Request) -> HTTPResponse:
    async def run(scope: Scope) -> HTTPResponse:
        return scim_response(_listed(resources.resource_types(scope.base), ResourceType))

    return await _answer(request, run)


@bp.get("/ResourceTypes/<type_id:str>")
async def resource_type(request: Request, type_id: str) -> HTTPResponse:
    async def run(scope: Scope) -> HTTPResponse:
        return _one(resources.resource_types(scope.base), type_id, "Resource type")

    return await _answer(request, run)


@bp.get("/Schemas")
async def schemas(request: Request) -> HTTPResponse:
    async def run(scope: Scope) -> HTTPResponse:
        return scim_response(_listed(resources.schemas(scope.base), Schema))

    return await _answer(request, run)


@bp.get("/Schemas/<schema_id:str>")
async def schema(request: Request, schema_id: str) -> HTTPResponse:
    async def run(scope: Scope) -> HTTPResponse:
        return _one(resources.schemas(scope.base), schema_id, "Schema")

    return await _answer(request, run)


async def read_only_or_unknown(request: Request, path: str) -> HTTPResponse:
    """Discovery is read-only (405); anything else here does not exist (404)."""

    async def run(scope: Scope) -> HTTPResponse:
        head = path.strip("/").split("/", 1)[0]
        if head in ("ServiceProviderConfig", "ResourceTypes", "Schemas"):
            return scim_error(405, f"{request.method} is not allowed on /{head}")
        if head == ".search":
            raise ScimError(501, "Searching several resource types at once is not supported")
        raise ScimError(404, f"/{path} not found")

    return await _answer(request, run)


async def unknown(request: Request, path: str) -> HTTPResponse:
    async def run(scope: Scope) -> HTTPResponse:
        raise ScimError(404, f"/{path} not found")

    return await _answer(request, run)


bp.add_route(
    read_only_or_unknown,
    "/<path:path>",
    methods=["POST", "PUT", "PATCH", "DELETE"],
    name="read_only",
)
bp.add_route(unknown, "/<path:path>", methods=["GET"], name="unknown")


def _resource_routes(kind: str, plural: str) -> None:
    async def listing(request: Request) -> HTTPResponse:
        async def run(scope: Scope) -> HTTPResponse:
            return scim_response(
                await service.list_resources(request.app.ctx.clients, scope, kind, _params(request))
            )

        return await _answer(request, run)

    async def create(request: Request) -> HTTPResponse:
        async def run(scope: Scope) -> HTTPResponse:
            clients: Clients = request.app.ctx.clients
            body = _body(request)
            if kind == "User":
                out = await service.create_user(clients, request.app.ctx.hasher, scope, body)
            else:
                out = await service.create_group(clients, scope, body)
            return scim_response(out, 201, {"location": out["meta"]["location"]})

        return await _answer(request, run)

    async def one(request: Request, resource_id: str) -> HTTPResponse:
        async def run(scope: Scope) -> HTTPResponse:
            clients: Clients = request.app.ctx.clients
            method = request.method
            if method == "GET":
                read = service.read_user if kind == "User" else service.read_group
                return scim_response(await read(clients, scope, resource_id, _params(request)))
            if method == "DELETE":
                delete = service.delete_user if kind == "User" else service.delete_group
                await delete(clients, scope, resource_id)
                return HTTPResponse(status=204)
            body = _body(request)
            if method == "PUT":
                replace = service.replace_user if kind == "User" else service.replace_group
                return scim_response(await replace(clients, scope, resource_id, body))
            patch = service.patch_user if kind == "User" else service.patch_group
            return scim_response(await patch(clients, scope, resource_id, body))

        return await _answer(request, run)

    bp.add_route(listing, f"/{plural}", methods=["GET"], name=f"list_{plural.lower()}")
    bp.add_route(create, f"/{plural}", methods=["POST"], name=f"create_{plural.lower()}")
    bp.add_route(
        one,
        f"/{plural}/<resource_id:str>",
        methods=["GET", "PUT", "PATCH", "DELETE"],
        name=f"one_{plural.lower()}",
    )


_resource_routes("User", "Users")
_resource_routes("Group", "Groups")
