"""An organization's single sign-on: its configuration (admins), where an email signs in,
the login itself (OpenID Connect or SAML 2.0), just-in-time provisioning within the seats,
and enforcement (password logins of its members refused).

A login is a short-lived transaction in Redis keyed by its `state` (OIDC) or RelayState
(SAML), taken exactly once; it ends with a one-time code the frontend swaps for this API's
own token (`POST /api/auth/sso/exchange`), so no token ever travels in a URL. An identity
provider only ever signs in an account that is a member of its organization, or one it made
itself: never another account that happens to have the same email (no takeover by claiming a
domain)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bson import ObjectId
from cryptography.fernet import InvalidToken
from odmantic import AIOEngine
from pymongo.errors import DuplicateKeyError
from redis.exceptions import RedisError

from tq.auth import service as auth_service
from tq.auth.schemas import LoginIn, ascii_domain, normalize_email
from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.errors import (
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from tq.core.security import PasswordHasher, Sealer, link_token
from tq.core.time import utcnow
from tq.orgs import audit
from tq.orgs import service as orgs
from tq.orgs import store as org_store
from tq.orgs.models import Organization
from tq.orgs.permissions import Action
from tq.sso import dns, oidc, saml
from tq.sso.events import SsoSigningIn
from tq.sso.models import SsoConnection, SsoDomain
from tq.sso.schemas import ConfigureSsoIn, DiscoverOut, LinkIn
from tq.users.models import User
from tq.users.service import account_by_email, get_user, link_sso

log = logging.getLogger("tq.sso")

VERIFICATION_LABEL = "_tq-verification"
LOGIN_KEY = "sso:login:"
CODE_KEY = "sso:code:"
SEEN_KEY = "sso:seen:"


class SsoRefused(Forbidden):
    code = "sso_refused"


def sealer(clients: Clients) -> Sealer:
    settings = clients.settings
    return Sealer(settings.sso_sealing_key or settings.jwt_secret)


def urls(clients: Clients, org_id: ObjectId) -> dict[str, str]:
    base = clients.settings.api_url
    return {
        "login": f"{base}/api/auth/sso/{org_id}/login",
        "redirect": f"{base}/api/auth/sso/oidc/callback",
        "acs": f"{base}/api/auth/sso/saml/{org_id}/acs",
        "metadata": f"{base}/api/auth/sso/saml/{org_id}/metadata",
    }


def _collection(engine: AIOEngine) -> Any:
    return engine.get_collection(SsoConnection)


async def connection_of(engine: AIOEngine, org_id: ObjectId) -> SsoConnection | None:
    doc = await _collection(engine).find_one({"_id": org_id})
    return SsoConnection.model_validate_doc(doc) if doc else None


def _domain_of(email: str) -> str:
    """An email's domain as DNS and the connection spell it (IDN in its xn-- form)."""
    return ascii_domain(email.rsplit("@", 1)[-1])


# --- configuration (owners and admins)


async def read_config(clients: Clients, org_id: str, actor: User) -> SsoConnection:
    org = await orgs.org_for(clients.engine, org_id, actor, Action.SSO_MANAGE)
    conn = await connection_of(clients.engine, org.id)
    if conn is None:
        raise NotFound("This organization has no single sign-on", code="sso_not_configured")
    return conn


async def _check_domains(clients: Clients, org_id: ObjectId, wanted: list[str]) -> None:
    """A domain another organization verified is its own: nobody else lists it."""
    taken = await clients.engine.get_collection(SsoDomain).find_one(
        {"_id": {"$in": wanted}, "orgId": {"$ne": org_id}}, {"_id": 1}
    )
    if taken is not None:
        raise Conflict(
            f"The domain {taken['_id']} signs in with another organization", code="sso_domain_taken"
        )


def verification_record(clients: Clients, org_id: ObjectId, domain: str) -> tuple[str, str]:
    """(name, value) of the DNS TXT record that proves the organization holds `domain`:
    derived from the server's secret, so nothing needs storing and nobody can guess it."""
    token = link_token(clients.settings.jwt_secret, "sso-domain", f"{org_id}:{domain}", "v1")
    return f"{VERIFICATION_LABEL}.{domain}", f"tq-verification={token}"


async def verified_domains(engine: AIOEngine, org_id: ObjectId) -> set[str]:
    cursor = engine.get_collection(SsoDomain).find({"orgId": org_id}, {"_id": 1})
    return {doc["_id"] async for doc in cursor}


async def holds_domain(engine: AIOEngine, org_id: ObjectId, domain: str) -> bool:
    """Whether the organization verified `domain` (and so speaks for its emails)."""
    found = await engine.get_collection(SsoDomain).find_one(
        {"_id": domain, "orgId": org_id}, {"_id": 1}
    )
    return found is not None


async def verify_domain(clients: Clients, org_id: str, actor: User, domain: str) -> SsoConnection:
    """The domain's TXT record is looked up now; once it holds the organization's value, the
    domain is the organization's (until it drops it): discovery, just-in-time provisioning,
    SCIM and enforcement count only verified domains."""
    org = await orgs.org_for(clients.engine, org_id, actor, Action.SSO_MANAGE)
    conn = await connection_of(clients.engine, org.id)
    if conn is None:
        raise NotFound("This organization has no single sign-on", code="sso_not_configured")
    domain = domain.lower()
    if domain not in conn.domains:
        raise NotFound("The connection lists no such domain", code="domain_not_listed")
    name, value = verification_record(clients, org.id, domain)
    if value not in await dns.txt_records(clients.settings, name):
        raise Conflict(
            f"No DNS TXT record {name} with the value {value} yet (DNS changes may take a while)",
            code="domain_not_verified",
        )
    try:
        await clients.engine.get_collection(SsoDomain).insert_one(
            SsoDomain(domain=domain, org_id=org.id).model_dump_doc()  # type: ignore[call-arg]
        )
    except DuplicateKeyError:
        if not await holds_domain(clients.engine, org.id, domain):
            raise Conflict(
                f"The domain {domain} signs in with another organization", code="sso_domain_taken"
            ) from None
    await audit.record_now(
        clients, org.id, audit.audit_entry("sso.domain_verified", actor.id, domain=domain)
    )
    return conn


async def _release_domains(clients: Clients, org_id: ObjectId, keep: list[str]) -> None:
    await clients.engine.get_collection(SsoDomain).delete_many(
        {"orgId": org_id, "_id": {"$nin": keep}}
    )


async def configure(
    clients: Clients, org_id: str, actor: User, data: ConfigureSsoIn
) -> SsoConnection:
    org = await orgs.org_for(clients.engine, org_id, actor, Action.SSO_MANAGE)
    if org.personal:
        raise Conflict(
            "Single sign-on is for teams, not a personal organization", code="personal_org"
        )
    settings = clients.settings
    if len(data.domains) > settings.sso_max_domains:
        raise BadRequest(
            f"A connection has at most {settings.sso_max_domains} domains", code="too_many_domains"
        )
    current = await connection_of(clients.engine, org.id)
    now = utcnow()
    fields: dict[str, Any] = {
        "protocol": data.protocol,
        "domains": data.domains,
        "defaultRole": data.defaultRole,
        "enforced": data.enforced,
        "groupRoles": [{"group": g, "role": r} for g, r in sorted(data.groupRoles.items())],
        "issuer": None,
        "clientId": None,
        "clientSecretSealed": None,
        "idpMetadata": None,
        "idpEntityId": None,
        "updatedAt": now,
    }
    secret_changed = False
    if data.protocol == "oidc":
        assert data.issuer and data.clientId  # checked by the schema
        # Fails here, not at the first login: the issuer is reachable, public and consistent.
        await oidc.endpoints(settings, data.issuer, fresh=True)
        kept = current.client_secret_sealed if current and current.protocol == "oidc" else None
        if data.clientSecret is None and kept is None:
            raise BadRequest("clientSecret is required", code="client_secret_required")
        secret_changed = data.clientSecret is not None
        fields.update(
            issuer=data.issuer,
            clientId=data.clientId,
            clientSecretSealed=sealer(clients).seal(data.clientSecret)
            if data.clientSecret
            else kept,
        )
    else:
        assert data.idpMetadataXml
        idp = saml.read_idp_metadata(settings, data.idpMetadataXml)
        fields.update(idpMetadata=data.idpMetadataXml, idpEntityId=idp.entity_id)
    await _check_domains(clients, org.id, data.domains)
    filter_: dict[str, Any] = {"_id": org.id}
    if current is None:
        written = await _collection(clients.engine).update_one(
            filter_,
            {"$set": fields, "$setOnInsert": {"createdAt": now, "version": 1}},
            upsert=True,
        )
    else:
        filter_["version"] = current.version
        written = await _collection(clients.engine).update_one(
            filter_, {"$set": fields, "$inc": {"version": 1}}
        )
        if written.matched_count == 0:
            raise Conflict("The connection changed meanwhile; retry", code="conflict")
    await _release_domains(clients, org.id, data.domains)
    changed = sorted(
        key
        for key, value in fields.items()
        if key not in ("updatedAt", "clientSecretSealed", "idpMetadata")
        and (current is None or current.model_dump_doc().get(key) != value)
    )
    if data.idpMetadataXml is not None and (
        current is None or current.idp_metadata != data.idpMetadataXml
    ):
        changed.append("idpMetadata")
    entry = audit.audit_entry(
        "sso.configured" if current is None else "sso.updated",
        actor.id,
        protocol=data.protocol,
        changed=changed,
        # Whether a new secret came, never the secret itself.
        clientSecretChanged=secret_changed,
        domains=data.domains,
        enforced=data.enforced,
    )
    await audit.record_now(clients, org.id, entry)
    conn = await connection_of(clients.engine, org.id)
    assert conn is not None
    return conn


async def remove(clients: Clients, org_id: str, actor: User) -> None:
    org = await orgs.org_for(clients.engine, org_id, actor, Action.SSO_MANAGE)
    deleted = await _collection(clients.engine).delete_one({"_id": org.id})
    if deleted.deleted_count == 0:
        raise NotFound("This organization has no single sign-on", code="sso_not_configured")
    await _release_domains(clients, org.id, [])
    await audit.record_now(clients, org.id, audit.audit_entry("sso.removed", actor.id))


async def forget_org_sso(clients: Clients, org_id: ObjectId) -> None:
    """The organization is being deleted (OrgDeleting)."""
    await _collection(clients.engine).delete_one({"_id": org_id})
    await _release_domains(clients, org_id, [])


# --- where an email signs in


@dataclass(frozen=True)
class Provider:
    org: Organization
    connection: SsoConnection


async def provider_for_email(clients: Clients, email: str) -> Provider | None:
    claim = await clients.engine.get_collection(SsoDomain).find_one(
        {"_id": _domain_of(email)}, {"orgId": 1}
    )
    if claim is None:
        return None
    conn = await connection_of(clients.engine, claim["orgId"])
    org = await org_store.find(clients.engine, claim["orgId"])
    if conn is None or org is None or claim["_id"] not in conn.domains:
        return None
    return Provider(org, conn)


async def discover(clients: Clients, email: str) -> DiscoverOut:
    """By the email's domain only: it never tells whether an account exists."""
    found = await provider_for_email(clients, email)
    if found is None:
        return DiscoverOut(method="password", enforced=False)
    return DiscoverOut(
        method="sso",
        protocol=found.connection.protocol,
        orgId=str(found.org.id),
        orgName=found.org.name,
        loginUrl=urls(clients, found.org.id)["login"],
        enforced=found.connection.enforced,
    )


async def refuse_enforced_password_login(clients: Clients, user_id: ObjectId, email: str) -> None:
    """The PasswordLoginVerified reaction: an organization that enforces single sign-on
    refuses its members' password logins, for the emails of its domains. Its owner keeps
    theirs (the way back in when the identity provider is down or misconfigured)."""
    found = await provider_for_email(clients, email)
    if found is None or not found.connection.enforced:
        return
    role = found.org.role_of(user_id)
    if role is None or role == "owner":
        return
    raise Forbidden(
        f"{found.org.name} signs its members in through its identity provider; use single "
        "sign-on (an account that never did links itself first: POST /api/auth/sso/link)",
        code="sso_required",
        extra={"loginUrl": urls(clients, found.org.id)["login"]},
    )


# --- the login


BINDING_COOKIE = "tqsso_"  # + the login's key: the browser that started it
EXCHANGE_COOKIE = "tqsso_exchange"  # the browser the one-time code was given to


def _take_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def binding_cookie(state: str) -> str:
    return BINDING_COOKIE + _take_key(state)[:16]


@dataclass(frozen=True)
class Started:
    """A login under way: where the browser goes, and the secret its cookie keeps (a login
    finishes only in the browser that started it: no login CSRF)."""

    url: str
    state: str
    binding: str


async def _redis_set(clients: Clients, key: str, value: str, ttl: int, *, nx: bool = False) -> bool:
    try:
        return bool(await clients.redis.set(key, value, ex=ttl, nx=nx))
    except RedisError:
        # No login without its one-time checks.
        raise ServiceUnavailable(
            "Single sign-on is unavailable right now", code="redis_unavailable"
        ) from None


async def _redis_take(clients: Clients, key: str) -> str | None:
    try:
        value = await clients.redis.getdel(key)
    except RedisError:
        raise ServiceUnavailable(
            "Single sign-on is unavailable right now", code="redis_unavailable"
        ) from None
    return value.decode() if isinstance(value, bytes) else value


async def connection_for_login(clients: Clients, org_id: str) -> tuple[Organization, SsoConnection]:
    oid = parse_object_id(org_id)
    conn = await connection_of(clients.engine, oid) if oid else None
    org = await org_store.find(clients.engine, oid) if oid else None
    if conn is None or org is None:
        raise NotFound("This organization has no single sign-on", code="sso_not_configured")
    return org, conn


def _client_secret(clients: Clients, conn: SsoConnection) -> str:
    try:
        return sealer(clients).unseal(conn.client_secret_sealed or "")
    except InvalidToken:
        # The sealing key changed since (SSO_SEALING_KEY, or JWT_SECRET it derives from).
        raise Conflict(
            "The identity provider's client secret can no longer be read; an admin enters it "
            "again (PUT /api/orgs/:id/sso)",
            code="sso_secret_unreadable",
        ) from None


def _oauth(clients: Clients, conn: SsoConnection, found: oidc.Endpoints) -> Any:
    return oidc.oauth_client(
        clients.settings,
        found,
        conn.client_id or "",
        _client_secret(clients, conn),
        urls(clients, conn.org_id)["redirect"],
    )


async def begin_login(
    clients: Clients,
    org_id: str,
    next_path: str | None,
    client_hash: str,
    link: ObjectId | None = None,
) -> Started:
    """Where the browser goes to sign in: the provider's authorization endpoint (OIDC) or
    single sign-on service (SAML, HTTP-Redirect binding). `link`: the account that proved
    its password and links itself (`begin_link`)."""
    org, conn = await connection_for_login(clients, org_id)
    state = secrets.token_urlsafe(32)
    binding = secrets.token_urlsafe(32)
    login: dict[str, Any] = {
        "org": str(org.id),
        "protocol": conn.protocol,
        "next": next_path,
        "binding": _take_key(binding),
        "link": str(link) if link else None,
        "client": client_hash,
    }
    if conn.protocol == "oidc":
        found = await oidc.endpoints(clients.settings, conn.issuer or "")
        login["nonce"] = secrets.token_urlsafe(32)
        login["verifier"] = secrets.token_urlsafe(64)
        async with _oauth(clients, conn, found) as client:
            url = oidc.authorization_url(client, found, state, login["nonce"], login["verifier"])
    else:
        request_id, url = await saml.authn_request(
            clients.settings, conn, urls(clients, org.id), state
        )
        login["requestId"] = request_id
    await _redis_set(
        clients, LOGIN_KEY + _take_key(state), json.dumps(login), clients.settings.sso_login_ttl_s
    )
    return Started(url, state, binding)


async def begin_link(
    clients: Clients, hasher: PasswordHasher, data: LinkIn, client: str
) -> Started:
    """A member's own account accepts the organization's single sign-on: its password
    first (throttled as a login, not refused by enforcement), then a login at the provider
    that must name the same email. Only then does the provider sign this account in."""
    credentials = LoginIn(email=data.email, password=data.password)
    user, _ = await auth_service.verify_password(clients, hasher, credentials, client)
    found = await provider_for_email(clients, user.email)
    if found is None:
        raise NotFound("No single sign-on signs this email in", code="sso_not_configured")
    if found.org.role_of(user.id) is None:
        raise SsoRefused(f"Accept an invitation to {found.org.name} first", code="sso_not_member")
    return await begin_login(clients, str(found.org.id), None, data.client, link=user.id)


async def _take_login(
    clients: Clients, state: str | None, protocol: str, binding: str | None
) -> dict[str, Any]:
    raw = await _redis_take(clients, LOGIN_KEY + _take_key(state)) if state else None
    login = json.loads(raw) if raw else None
    if not login or login.get("protocol") != protocol:
        # Unknown, expired, already used, or the connection changed protocol since.
        raise Unauthorized(
            "This login is unknown, expired or already used; start again", code="sso_login_unknown"
        )
    if not binding or not hmac.compare_digest(_take_key(binding), login.get("binding", "")):
        # Someone else's login (a link sent to this browser): never finished here.
        raise Unauthorized(
            "This login was started in another browser; start again", code="sso_browser_mismatch"
        )
    return dict(login)


async def _first_use(clients: Clients, kind: str, digest: str, ttl: int) -> None:
    """An ID token or assertion is used once: a second use within its lifetime is refused."""
    if not await _redis_set(clients, f"{SEEN_KEY}{kind}:{digest}", "1", max(ttl, 1), nx=True):
        raise Unauthorized("This sign-in was already used", code="sso_replayed")


@dataclass(frozen=True)
class Finished:
    user: User
    next_path: str | None
    binding: str
    client_hash: str


async def finish_oidc(
    clients: Clients,
    hasher: PasswordHasher,
    state: str | None,
    code: str | None,
    error: str | None,
    binding: str | None,
) -> Finished:
    login = await _take_login(clients, state, "oidc", binding)
    if error or not code:
        raise Unauthorized(
            f"The identity provider did not sign you in ({error or 'no code'})",
            code="sso_provider_error",
        )
    org, conn = await connection_for_login(clients, login["org"])
    if conn.protocol != "oidc" or not conn.issuer or not conn.client_id:
        raise Unauthorized(
            "The connection changed meanwhile; start again", code="sso_login_unknown"
        )
    found = await oidc.endpoints(clients.settings, conn.issuer)
    async with _oauth(clients, conn, found) as client:
        token = await oidc.exchange_code(client, found, code, login["verifier"])
    claims = await verify_id_token(
        clients, conn, found, token["id_token"], login["nonce"], token.get("access_token")
    )
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") in (False, "false"):
        raise SsoRefused("The identity provider gave no verified email", code="sso_no_email")
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    user = await sign_in(clients, hasher, org, conn, email, name, "oidc", login.get("link"))
    return Finished(user, login.get("next"), binding or "", login["client"])


async def verify_id_token(
    clients: Clients,
    conn: SsoConnection,
    found: oidc.Endpoints,
    id_token: str,
    nonce: str,
    access_token: str | None = None,
) -> dict[str, Any]:
    """The ID token's checks, then its first use (the same token twice is a replay)."""
    claims = await oidc.verify_id_token(
        clients.settings, found, conn.client_id or "", id_token, nonce, access_token
    )
    ttl = int(claims["exp"]) - int(utcnow().timestamp()) + clients.settings.sso_clock_skew_s
    await _first_use(clients, "oidc", hashlib.sha256(id_token.encode()).hexdigest(), ttl)
    return claims


async def finish_saml(
    clients: Clients,
    hasher: PasswordHasher,
    org_id: str,
    saml_response: str,
    relay_state: str | None,
    binding: str | None,
) -> Finished:
    if len(saml_response) > clients.settings.saml_max_response_bytes:
        raise BadRequest("The SAML response is too large", code="saml_response_too_large")
    login = await _take_login(clients, relay_state, "saml", binding)
    if login["org"] != org_id:
        raise Unauthorized(
            "This login was started for another organization", code="sso_login_unknown"
        )
    org, conn = await connection_for_login(clients, org_id)
    if conn.protocol != "saml":
        raise Unauthorized(
            "The connection changed meanwhile; start again", code="sso_login_unknown"
        )
    assertion = await saml.read_response(
        clients.settings, conn, urls(clients, org.id), saml_response, login["requestId"]
    )
    ttl = int(assertion.not_on_or_after - utcnow().timestamp()) + clients.settings.sso_clock_skew_s
    await _first_use(
        clients, f"saml:{org.id}", hashlib.sha256(assertion.id.encode()).hexdigest(), ttl
    )
    user = await sign_in(
        clients, hasher, org, conn, assertion.email, assertion.name, "saml", login.get("link")
    )
    return Finished(user, login.get("next"), binding or "", login["client"])


def _checked_email(email: str) -> str:
    try:
        return normalize_email(email)
    except ValueError:
        raise SsoRefused("The identity provider gave no valid email", code="sso_no_email") from None


async def sign_in(
    clients: Clients,
    hasher: PasswordHasher,
    org: Organization,
    conn: SsoConnection,
    email: str,
    name: str | None,
    via: str,
    link: str | None = None,
) -> User:
    """The account the provider vouched for. It signs in only an account it made or one
    that linked itself (a member's own account, with its password): never another account
    that has the same email, the owner's included. A first login of an allowed domain makes
    the account and the membership (`defaultRole`, within the seats)."""
    email = _checked_email(email)
    domain = _domain_of(email)
    if domain not in conn.domains or not await holds_domain(clients.engine, org.id, domain):
        raise SsoRefused(
            f"{_domain_of(email)} is not a domain of this organization's single sign-on",
            code="sso_domain_not_allowed",
        )
    user = await account_by_email(clients.engine, email)
    if link is not None:
        if user is None or str(user.id) != link:
            raise SsoRefused(
                "The identity provider signed in someone else than the account being linked",
                code="sso_link_mismatch",
            )
        # Still a member, and not deactivated meanwhile (the link began a while ago).
        current = await org_store.find(clients.engine, org.id)
        if current is None or current.role_of(user.id) is None:
            raise SsoRefused(f"You are no member of {org.name} any more", code="sso_not_member")
        await clients.events.publish(SsoSigningIn(org.id, user.id))
        await link_sso(clients, user.id, org.id)
        await _audit(clients, org.id, user.id, "sso.linked", via)
        return user
    if user is not None:
        speaks_for = user.provisioned_by == org.id or org.id in user.sso_links
        if not speaks_for or org.id in user.sso_released:
            # Someone's own account: the provider never speaks for it unless it linked itself.
            raise SsoRefused(
                "An account with this email exists and has not accepted this organization's "
                "single sign-on: sign in with its password and link it (POST /api/auth/sso/link)",
                code="sso_account_not_linked",
            )
        # Refused here when the organization's SCIM deactivated the person (tq.scim).
        await clients.events.publish(SsoSigningIn(org.id, user.id))
        if org.role_of(user.id) is None:
            await _provision(clients, org, conn, user, via, made=False)
        await _audit(clients, org.id, user.id, "sso.login", via)
        return user
    display = " ".join((name or email.split("@", 1)[0]).split())[:100] or email
    user = await auth_service.create_provisioned(clients, hasher, email, display, org.id)
    await _provision(clients, org, conn, user, via, made=True)
    await _audit(clients, org.id, user.id, "sso.provisioned", via)
    return user


async def _provision(
    clients: Clients, org: Organization, conn: SsoConnection, user: User, via: str, *, made: bool
) -> None:
    """Just-in-time membership. Checked again once made: a SCIM deactivation that landed
    meanwhile wins (the membership is taken back)."""
    try:
        await orgs.provision_member(clients, org.id, user.id, conn.default_role, via)
        await clients.events.publish(SsoSigningIn(org.id, user.id))
    except AppError:
        with contextlib.suppress(AppError):
            await orgs.deprovision_member(clients, org.id, user.id, via)
        if made:
            # The account it would have joined with does not stay either.
            await auth_service.discard_provisioned(clients, user)
        raise


async def _audit(
    clients: Clients, org_id: ObjectId, user_id: ObjectId, type_: str, via: str
) -> None:
    await audit.record_now(
        clients, org_id, audit.audit_entry(type_, user_id, userId=str(user_id), via=via)
    )


async def exchange_code_for(clients: Clients, finished: Finished) -> str:
    code = secrets.token_urlsafe(32)
    record = json.dumps(
        {
            "user": str(finished.user.id),
            "binding": _take_key(finished.binding),
            "client": finished.client_hash,
            "at": int(utcnow().timestamp()),
        }
    )
    await _redis_set(
        clients, CODE_KEY + _take_key(code), record, clients.settings.sso_exchange_ttl_s
    )
    return code


def frontend_url(clients: Clients, code: str, next_path: str | None) -> str:
    """Back to the frontend with the one-time code in the fragment (never sent to a server,
    never in a log)."""
    target = f"{clients.settings.app_url}/sso/complete#code={code}"
    if next_path:
        target += f"&next={quote(next_path, safe='/')}"
    return target


async def exchange(clients: Clients, code: str, verifier: str, binding: str | None) -> User:
    """The account of a finished login, once, in the browser that finished it, for the
    frontend that started it (its secret)."""
    raw = await _redis_take(clients, CODE_KEY + _take_key(code))
    record = json.loads(raw) if raw else None
    if record is None:
        raise Unauthorized(
            "This sign-in code is unknown, expired or already used", code="sso_code_unknown"
        )
    if not binding or not hmac.compare_digest(_take_key(binding), record["binding"]):
        raise Unauthorized(
            "This sign-in code was given to another browser", code="sso_browser_mismatch"
        )
    if not hmac.compare_digest(_take_key(verifier), record["client"]):
        # A login this frontend never started (someone sent the browser to our login URL).
        raise Unauthorized(
            "This sign-in was not started here; start again", code="sso_client_mismatch"
        )
    user = await get_user(clients.engine, record["user"])
    if user is None:
        raise Unauthorized("Account no longer exists", code="sso_code_unknown")
    if user.tokens_valid_after and user.tokens_valid_after.timestamp() > record["at"]:
        # Deactivated (SCIM) between the login and now.
        raise Unauthorized("This account's access was revoked", code="sso_code_unknown")
    return user
