"""Single sign-on: an organization's connection (`/api/orgs/{org_id}/sso`, owners and
admins) and the login itself (`/api/auth/sso/...`, public: the browser goes there)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

from sanic import Blueprint, Request, empty, json, redirect
from sanic.response import HTTPResponse, raw

from tq.auth.dependencies import CurrentUser
from tq.auth.schemas import AuthOut
from tq.core.clients import Clients
from tq.core.errors import BadRequest, NotFound, UnsupportedMediaType
from tq.core.http import client_address, parse_body, parse_query
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
    LinkIn,
    LinkOut,
    LoginQuery,
    OidcCallbackQuery,
    SsoConnectionOut,
    SsoEnvelope,
)
from tq.users.schemas import UserOut

config_bp = Blueprint("sso_config", url_prefix="/api/orgs")
login_bp = Blueprint("sso_login", url_prefix="/api/auth/sso")
TAG = "single sign-on"


async def _connection(clients: Clients, conn: SsoConnection) -> HTTPResponse:
    verified = await service.verified_domains(clients.engine, conn.org_id)
    records = {d: service.verification_record(clients, conn.org_id, d) for d in conn.domains}
    out = SsoConnectionOut.of(conn, service.urls(clients, conn.org_id), verified, records)
    return json(dump(SsoEnvelope(connection=out)))


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
    return await _connection(clients, await service.read_config(clients, org_id, viewer))


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
    return await _connection(clients, await service.configure(clients, org_id, viewer, data))


@config_bp.post("/<org_id:str>/sso/domains/<domain:str>/verify")
@doc(
    summary="Verify a domain of the connection by its DNS TXT record (owners, admins)",
    tag=TAG,
    ok={200: SsoEnvelope},
    errors=(403, 404, 409, 502),
)
async def verify_domain(
    request: Request, org_id: str, domain: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return await _connection(clients, await service.verify_domain(clients, org_id, viewer, domain))


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


COOKIE_PATH = "/api/auth/sso"


def _cookie_path(clients: Clients) -> str:
    return urlsplit(clients.settings.api_url).path.rstrip("/") + COOKIE_PATH


def _cookie(clients: Clients, response: HTTPResponse, name: str, value: str, ttl: int) -> None:
    """A login's browser secret: HttpOnly, only for these routes (under API_URL's path).
    Over https (API_URL's scheme, whatever proxy stands between) it goes with the identity
    provider's cross-site POST too (SameSite=None; Secure); plain http (development) cannot
    say so, and stays Lax."""
    api = urlsplit(clients.settings.api_url)
    secure = api.scheme == "https"
    response.add_cookie(
        name,
        value,
        path=_cookie_path(clients),
        max_age=ttl,
        httponly=True,
        secure=secure,
        samesite="None" if secure else "Lax",
    )


def _bound(clients: Clients, response: HTTPResponse, started: service.Started) -> HTTPResponse:
    """The answer that starts a login, with the cookie of the browser it is for."""
    response.headers["cache-control"] = "no-store"
    _cookie(
        clients,
        response,
        service.binding_cookie(started.state),
        started.binding,
        clients.settings.sso_login_ttl_s,
    )
    return response


@login_bp.get("/<org_id:str>/login")
@doc(
    summary="Start a login at the organization's identity provider (a redirect)",
    tag=TAG,
    query=LoginQuery,
    ok={302: None},
    errors=(404, 409, 502, 503),
    auth=False,
)
async def begin_login(request: Request, org_id: str, clients: Clients) -> HTTPResponse:
    query = parse_query(request, LoginQuery)
    started = await service.begin_login(clients, org_id, query.next, query.client)
    return _bound(clients, redirect(started.url, status=302), started)


@login_bp.post("/link")
@doc(
    summary="Link a member's own account to its organization's single sign-on (its password, "
    "then a login at the provider naming the same email)",
    tag=TAG,
    body=LinkIn,
    ok={200: LinkOut},
    errors=(401, 403, 404, 409, 429, 502, 503),
    auth=False,
)
async def begin_link(request: Request, clients: Clients, hasher: PasswordHasher) -> HTTPResponse:
    data = parse_body(request, LinkIn)
    started = await service.begin_link(clients, hasher, data, client_address(request))
    return _bound(clients, json(dump(LinkOut(loginUrl=started.url))), started)


async def _finished(
    clients: Clients, finished: service.Finished, state: str | None
) -> HTTPResponse:
    code = await service.exchange_code_for(clients, finished)
    response = redirect(service.frontend_url(clients, code, finished.next_path), status=302)
    response.headers["cache-control"] = "no-store"
    if state:
        response.delete_cookie(service.binding_cookie(state), path=_cookie_path(clients))
    _cookie(
        clients,
        response,
        service.EXCHANGE_COOKIE,
        finished.binding,
        clients.settings.sso_exchange_ttl_s,
    )
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
    binding = request.cookies.get(service.binding_cookie(query.state or ""))
    finished = await service.finish_oidc(
        clients, hasher, query.state, query.code, query.error, binding
    )
    return await _finished(clients, finished, query.state)


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
    state = relay[0] if relay else None
    binding = request.cookies.get(service.binding_cookie(state or ""))
    finished = await service.finish_saml(clients, hasher, org_id, responses[0], state, binding)
    return await _finished(clients, finished, state)


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
    # (pysaml2 parses the identity provider's metadata to build it: off the event loop)
    document = await asyncio.to_thread(
        saml.sp_metadata, clients.settings, conn, service.urls(clients, org.id)
    )
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
    binding = request.cookies.get(service.EXCHANGE_COOKIE)
    user = await service.exchange(clients, data.code, data.verifier, binding)
    token, _ = tokens.issue(str(user.id), user.role)
    response = json(dump(AuthOut(token=token, user=UserOut.of(user))))
    response.headers["cache-control"] = "no-store"
    response.delete_cookie(service.EXCHANGE_COOKIE, path=_cookie_path(clients))
    return response
