"""Single sign-on: an organization's connection (`/api/orgs/{org_id}/sso`, owners and
admins) and the login itself (`/api/auth/sso/...`, public: the browser goes there)."""

from __future__ import annotations

from urllib.parse import parse_qs

from sanic import Blueprint, Request, empty, json, redirect
from sanic.response import HTTPResponse, raw

from tq.auth.dependencies import CurrentUser
from tq.auth.schemas import AuthOut
from tq.core.clients import Clients
from tq.core.errors import BadRequest, NotFound, UnsupportedMediaType
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.core.security import PasswordHasher, TokenService
from tq.sso import saml, service
from tq.sso.models import SsoConnection
from tq.sso.schemas import (
    ConfigureSsoIn,
    DiscoverIn,
    DiscoverOut,
    ExchangeIn,
    LoginQuery,
    OidcCallbackQuery,
    SsoConnectionOut,
    SsoEnvelope,
)
from tq.users.schemas import UserOut

config_bp = Blueprint("sso_config", url_prefix="/api/orgs")
login_bp = Blueprint("sso_login", url_prefix="/api/auth/sso")
TAG = "single sign-on"


def _connection(clients: Clients, conn: SsoConnection) -> HTTPResponse:
    return json(
        dump(SsoEnvelope(connection=SsoConnectionOut.of(conn, service.urls(clients, conn.org_id))))
    )


@config_bp.get("/<org_id:str>/sso")
@doc(
    summary="The organization's identity provider (owners, admins; never its secret)",
    tag=TAG,
    ok={200: SsoEnvelope},
    errors=(403, 404),
)
async def read_sso(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return _connection(clients, await service.read_config(clients, org_id, viewer))


@config_bp.put("/<org_id:str>/sso")
@doc(
    summary="Set the organization's identity provider: OpenID Connect or SAML 2.0",
    tag=TAG,
    body=ConfigureSsoIn,
    ok={200: SsoEnvelope},
    errors=(403, 404, 409, 502),
)
async def configure_sso(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, ConfigureSsoIn)
    return _connection(clients, await service.configure(clients, org_id, viewer, data))


@config_bp.delete("/<org_id:str>/sso")
@doc(
    summary="Remove the organization's identity provider (members sign in with passwords)",
    tag=TAG,
    ok={204: None},
    errors=(403, 404),
)
async def remove_sso(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    await service.remove(clients, org_id, viewer)
    return empty()


@login_bp.post("/discover")
@doc(
    summary="Where this email signs in: a password, or its organization's identity provider",
    tag=TAG,
    body=DiscoverIn,
    ok={200: DiscoverOut},
    errors=(429,),
    auth=False,
)
async def discover(request: Request, clients: Clients) -> HTTPResponse:
    data = parse_body(request, DiscoverIn)
    return json(dump(await service.discover(clients, data.email)))


@login_bp.get("/<org_id:str>/login")
@doc(
    summary="Start a login at the organization's identity provider (a redirect)",
    tag=TAG,
    query=LoginQuery,
    ok={302: None},
    errors=(404, 502, 503),
    auth=False,
)
async def begin_login(request: Request, org_id: str, clients: Clients) -> HTTPResponse:
    query = parse_query(request, LoginQuery)
    return redirect(await service.begin_login(clients, org_id, query.next), status=302)


def _finished(clients: Clients, code: str, next_path: str | None) -> HTTPResponse:
    response = redirect(service.frontend_url(clients, code, next_path), status=302)
    response.headers["cache-control"] = "no-store"
    return response


@login_bp.get("/oidc/callback")
@doc(
    summary="OpenID Connect redirect URI: back to the frontend with a one-time code",
    tag=TAG,
    query=OidcCallbackQuery,
    ok={302: None},
    errors=(401, 403, 404, 409, 502, 503),
    auth=False,
)
async def oidc_callback(request: Request, clients: Clients, hasher: PasswordHasher) -> HTTPResponse:
    query = parse_query(request, OidcCallbackQuery)
    user, next_path = await service.finish_oidc(
        clients, hasher, query.state, query.code, query.error
    )
    return _finished(clients, await service.exchange_code_for(clients, user), next_path)


@login_bp.post("/saml/<org_id:str>/acs")
@doc(
    summary="SAML assertion consumer service (HTTP-POST): back to the frontend with a code",
    tag=TAG,
    raw_body=("application/x-www-form-urlencoded",),
    ok={302: None},
    errors=(401, 403, 404, 409, 503),
    auth=False,
)
async def saml_acs(
    request: Request, org_id: str, clients: Clients, hasher: PasswordHasher
) -> HTTPResponse:
    if (request.content_type or "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("The body must be a form (application/x-www-form-urlencoded)")
    try:
        form = parse_qs(request.body.decode("ascii"), strict_parsing=False, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form is not valid", code="saml_bad_form") from None
    responses, relay = form.get("SAMLResponse", []), form.get("RelayState", [])
    if len(responses) != 1 or len(relay) > 1:
        raise BadRequest("One SAMLResponse (and RelayState) is expected", code="saml_bad_form")
    user, next_path = await service.finish_saml(
        clients, hasher, org_id, responses[0], relay[0] if relay else None
    )
    return _finished(clients, await service.exchange_code_for(clients, user), next_path)


@login_bp.get("/saml/<org_id:str>/metadata")
@doc(
    summary="Our SAML service provider metadata for this organization (entity id, ACS)",
    tag=TAG,
    ok={200: "application/samlmetadata+xml"},
    errors=(404,),
    auth=False,
)
async def saml_metadata(request: Request, org_id: str, clients: Clients) -> HTTPResponse:
    org, conn = await service.connection_for_login(clients, org_id)
    if conn.protocol != "saml":
        raise NotFound("This organization signs in with OpenID Connect", code="sso_not_saml")
    document = saml.sp_metadata(clients.settings, conn, service.urls(clients, org.id))
    return raw(document, content_type="application/samlmetadata+xml")


@login_bp.post("/exchange")
@doc(
    summary="Swap the one-time code of a finished login for this API's token",
    tag=TAG,
    body=ExchangeIn,
    ok={200: AuthOut},
    errors=(401, 429, 503),
    auth=False,
)
async def exchange(request: Request, clients: Clients, tokens: TokenService) -> HTTPResponse:
    data = parse_body(request, ExchangeIn)
    user = await service.exchange(clients, data.code)
    token, _ = tokens.issue(str(user.id), user.role)
    return json(dump(AuthOut(token=token, user=UserOut.of(user))))
