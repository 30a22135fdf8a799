"""SAML 2.0 service provider, on pysaml2 (signatures by Debian's xmlsec1): SP-initiated login
over HTTP-Redirect, the response over HTTP-POST. Assertions must be signed by the identity
provider's certificate from its metadata; audience (our entity id), recipient (our ACS),
`InResponseTo` (the request we sent), `NotBefore`/`NotOnOrAfter` are checked by pysaml2;
a replayed assertion id is refused by the caller (tq.sso.service)."""

from __future__ import annotations

import asyncio
import calendar
import logging
import shutil
import time
from dataclasses import dataclass
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.mdstore import InMemoryMetaData
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
from saml2.time_util import str_to_time

from config import Settings
from tq.core.errors import BadRequest, Unauthorized
from tq.sso.models import SsoConnection

log = logging.getLogger("tq.sso")
EMAIL_ATTRIBUTES = ("email", "mail", "emailaddress", "urn:oid:0.9.2342.19200300.100.1.3")
NAME_ATTRIBUTES = ("displayname", "name", "cn", "urn:oid:2.16.840.1.113730.3.1.241")


class InvalidAssertion(Unauthorized):
    code = "saml_invalid_response"


@dataclass(frozen=True)
class IdpInfo:
    entity_id: str
    sso_url: str


@dataclass(frozen=True)
class Assertion:
    id: str
    email: str
    name: str | None
    not_on_or_after: float


def _xmlsec() -> str:
    found = shutil.which("xmlsec1")
    if not found:
        raise RuntimeError("xmlsec1 is not installed (Debian package xmlsec1)")
    return found


def read_idp_metadata(settings: Settings, xml: str) -> IdpInfo:
    """The identity provider an admin gave us: one entity, with an HTTP-Redirect single
    sign-on service and a signing certificate. 400 otherwise."""
    if len(xml.encode()) > settings.saml_max_metadata_bytes:
        raise BadRequest("The metadata is too large", code="saml_bad_metadata")
    store = InMemoryMetaData(None, xml)
    try:
        store.load()
    except Exception:  # pysaml2 raises a variety of parser errors
        raise BadRequest(
            "The metadata is not SAML 2.0 metadata", code="saml_bad_metadata"
        ) from None
    idps = [entity_id for entity_id, entity in store.items() if entity.get("idpsso_descriptor")]
    if len(idps) != 1:
        raise BadRequest(
            "The metadata must describe exactly one identity provider", code="saml_bad_metadata"
        )
    entity_id = idps[0]
    services = store.service(
        entity_id, "idpsso_descriptor", "single_sign_on_service", BINDING_HTTP_REDIRECT
    )
    if not services:
        raise BadRequest(
            "The identity provider has no HTTP-Redirect single sign-on service",
            code="saml_bad_metadata",
        )
    if not store.certs(entity_id, "idpsso", "signing"):
        raise BadRequest(
            "The identity provider's metadata has no signing certificate", code="saml_bad_metadata"
        )
    return IdpInfo(entity_id=entity_id, sso_url=services[0]["location"])


def _client(settings: Settings, conn: SsoConnection, urls: dict[str, str]) -> Saml2Client:
    config = SPConfig()
    config.load(
        {
            "entityid": urls["metadata"],
            "xmlsec_binary": _xmlsec(),
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(urls["acs"], BINDING_HTTP_POST)]},
                    "allow_unsolicited": False,
                    "authn_requests_signed": False,
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "name_id_format": NAMEID_FORMAT_EMAILADDRESS,
                    "allow_unknown_attributes": True,
                }
            },
            "metadata": {"inline": [conn.idp_metadata or ""]},
            "accepted_time_diff": settings.sso_clock_skew_s,
        }
    )
    return Saml2Client(config)


async def authn_request(
    settings: Settings, conn: SsoConnection, urls: dict[str, str], relay_state: str
) -> tuple[str, str]:
    """(request id, the identity provider's URL carrying the AuthnRequest)."""

    def build() -> tuple[str, str]:
        client = _client(settings, conn, urls)
        request_id, info = client.prepare_for_authenticate(
            entityid=conn.idp_entity_id, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT
        )
        location = next(value for key, value in info["headers"] if key == "Location")
        return str(request_id), str(location)

    return await asyncio.to_thread(build)


def _first(attributes: dict[str, list[Any]], names: tuple[str, ...]) -> str | None:
    lowered = {key.lower(): values for key, values in attributes.items()}
    for name in names:
        values = lowered.get(name)
        if values and isinstance(values[0], str) and values[0].strip():
            return values[0].strip()
    return None


async def read_response(
    settings: Settings,
    conn: SsoConnection,
    urls: dict[str, str],
    saml_response: str,
    request_id: str,
) -> Assertion:
    """The signed assertion's subject, once every check held; InvalidAssertion otherwise."""

    def parse() -> Assertion:
        client = _client(settings, conn, urls)
        try:
            response = client.parse_authn_request_response(
                saml_response, BINDING_HTTP_POST, outstanding={request_id: urls["login"]}
            )
        except Exception as exc:  # pysaml2's many refusals (signature, audience, time, ...)
            log.info("SAML response refused for org %s: %s", conn.org_id, type(exc).__name__)
            raise InvalidAssertion(
                f"The SAML response was refused ({type(exc).__name__})"
            ) from None
        if response is None or response.assertion is None:
            raise InvalidAssertion("The SAML response carries no assertion")
        assertion = response.assertion
        if response.issuer() != conn.idp_entity_id:
            raise InvalidAssertion("The SAML response comes from another identity provider")
        attributes = response.get_identity()
        name_id = response.name_id
        email = _first(attributes, EMAIL_ATTRIBUTES)
        if email is None and name_id is not None and name_id.format == NAMEID_FORMAT_EMAILADDRESS:
            email = (name_id.text or "").strip()
        if not email:
            raise InvalidAssertion("The assertion names no email")
        condition = assertion.conditions.not_on_or_after if assertion.conditions else None
        ends = calendar.timegm(str_to_time(condition)) if condition else time.time() + 300
        return Assertion(
            id=str(assertion.id),
            email=email,
            name=_first(attributes, NAME_ATTRIBUTES),
            not_on_or_after=ends,
        )

    return await asyncio.to_thread(parse)


def sp_metadata(settings: Settings, conn: SsoConnection, urls: dict[str, str]) -> str:
    client = _client(settings, conn, urls)
    return str(create_metadata_string(None, client.config, valid=None))
