"""SCIM 2.0 provisioning of one organization (RFC 7644), authenticated by its SCIM tokens.

A SCIM User is an account of the organization, by email: `userName` is the email, of a
domain of the organization's single sign-on. Creating one makes the account (or takes the
organization's own) and its membership within the seats; `active: false` or DELETE removes
the membership and makes every token of the account fail on its next request. Groups map to
organization roles by the connection's `groupRoles`; a member's role is the strongest role of
their mapped groups, else the connection's default. The organization's owner is never
changed or removed this way."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from bson import ObjectId
from odmantic import AIOEngine
from pydantic import ValidationError
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from scim2_models import (
    Context,
    ListResponse,
    Meta,
    PatchOp,
    ResponseParameters,
    SCIMException,
    SearchRequest,
)
from scim2_models.path.expressions import Comparison, LogicalExpr

from tq.auth import service as auth_service
from tq.auth.schemas import ascii_domain, normalize_email
from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.errors import AppError, Conflict, Forbidden, NotFound
from tq.core.ratelimit import SCIM_TOKEN_PREFIX
from tq.core.security import PasswordHasher
from tq.core.time import utcnow
from tq.orgs import audit
from tq.orgs import service as orgs
from tq.orgs.models import OrgRole
from tq.orgs.permissions import Action
from tq.scim.models import ScimGroup, ScimToken, ScimUser
from tq.scim.resources import Group, User
from tq.sso.models import SsoConnection
from tq.sso.service import connection_of, holds_domain
from tq.users.models import User as Account
from tq.users.service import (
    account_by_email,
    change_email,
    get_user,
    release_from_org,
    restore_to_org,
    revoke_tokens,
)

# (the rate limiter knows a SCIM token by it too: tq.core.ratelimit.SCIM_TOKEN_PREFIX)
TOKEN_PREFIX = SCIM_TOKEN_PREFIX
LAST_USED_EVERY_S = 60
log = logging.getLogger("tq.scim")
# When groups give several roles, the strongest wins.
ROLE_STRENGTH: dict[str, int] = {"recruiter": 1, "interviewer": 2, "admin": 3}


class ScimError(AppError):
    """Answered as a SCIM Error (`scimType` when the RFC names one)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail, code=scim_type or "scim_error")
        self.status_code = status
        self.scim_type = scim_type


def invalid(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


def from_validation(exc: ValidationError) -> ScimError:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return invalid(f"{where}: {first.get('msg', 'not valid')}" if where else first.get("msg", ""))


def from_scim(exc: SCIMException) -> ScimError:
    error = exc.to_error()
    return ScimError(int(error.status or 400), error.detail or "not valid", error.scim_type)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- tokens (the organization's admins, through the JSON API)


@dataclass(frozen=True)
class CreatedToken:
    token: ScimToken
    secret: str


async def create_token(clients: Clients, org_id: str, actor: Account, name: str) -> CreatedToken:
    org = await orgs.org_for(clients.engine, org_id, actor, Action.SSO_MANAGE)
    collection = clients.engine.get_collection(ScimToken)
    if await collection.count_documents({"orgId": org.id}) >= clients.settings.scim_max_tokens:
        raise Conflict(
            f"An organization has at most {clients.settings.scim_max_tokens} SCIM tokens; "
            "revoke one",
            code="too_many_tokens",
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ScimToken(
        org_id=org.id, name=name, token_hash=_hash(secret), prefix=secret[:12], created_by=actor.id
    )
    await clients.engine.save(token)
    await audit.record_now(
        clients,
        org.id,
        audit.audit_entry("scim.token_created", actor.id, tokenId=str(token.id), name=name),
    )
    return CreatedToken(token, secret)


async def list_tokens(clients: Clients, org_id: str, actor: Account) -> list[ScimToken]:
    org = await orgs.org_for(clients.engine, org_id, actor, Action.SSO_MANAGE)
    cursor = clients.engine.get_collection(ScimToken).find({"orgId": org.id}).sort("createdAt", 1)
    return [
        ScimToken.model_validate_doc(doc)
        async for doc in cursor.limit(clients.settings.scim_max_tokens)
    ]


async def revoke_token(clients: Clients, org_id: str, actor: Account, token_id: str) -> None:
    org = await orgs.org_for(clients.engine, org_id, actor, Action.SSO_MANAGE)
    oid = parse_object_id(token_id)
    deleted = (
        await clients.engine.get_collection(ScimToken).delete_one({"_id": oid, "orgId": org.id})
        if oid
        else None
    )
    if deleted is None or deleted.deleted_count == 0:
        raise NotFound("SCIM token not found", code="token_not_found")
    await audit.record_now(
        clients, org.id, audit.audit_entry("scim.token_revoked", actor.id, tokenId=token_id)
    )


async def forget_org_scim(engine: AIOEngine, org_id: ObjectId) -> None:
    for model in (ScimToken, ScimUser, ScimGroup):
        await engine.get_collection(model).delete_many({"orgId": org_id})


async def forget_account(engine: AIOEngine, user_id: ObjectId) -> None:
    """The account is deleted: its SCIM Users go, and out of their groups."""
    users = engine.get_collection(ScimUser)
    async for doc in users.find({"userId": user_id}, {"orgId": 1}):
        await _leave_groups(engine, doc["orgId"], doc["_id"])
    await users.delete_many({"userId": user_id})


async def _leave_groups(engine: AIOEngine, org_id: ObjectId, record_id: ObjectId) -> None:
    """A SCIM User goes out of every group of its organization (ids and stored resource)."""
    groups = engine.get_collection(ScimGroup)
    async for doc in groups.find({"orgId": org_id, "memberIds": record_id}):
        group = Group.model_validate_json(doc["resource"])
        group.members = [m for m in group.members or [] if m.value != str(record_id)] or None
        await groups.update_one(
            {"_id": doc["_id"]},
            {
                "$set": {"resource": _stored(group), "updatedAt": utcnow()},
                "$pull": {"memberIds": record_id},
                "$inc": {"version": 1},
            },
        )


async def refuse_deactivated(clients: Clients, org_id: ObjectId, user_id: ObjectId) -> None:
    """The SsoSigningIn reaction: someone the organization's SCIM deactivated does not come
    back in through a single sign-on login (which would provision them again)."""
    doc = await clients.engine.get_collection(ScimUser).find_one(
        {"orgId": org_id, "userId": user_id, "active": False}, {"_id": 1}
    )
    if doc is not None:
        raise Forbidden(
            "Your organization deactivated your access; ask its admin", code="sso_deactivated"
        )


# --- the provider's side


@dataclass
class Scope:
    """A SCIM request's organization (by its token) and where its resources live."""

    org_id: ObjectId
    base: str
    actor: str  # the token's name, for the audit log


async def authenticate(clients: Clients, authorization: str | None, base: str) -> Scope:
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise ScimError(401, "A SCIM bearer token is required")
    tokens = clients.engine.get_collection(ScimToken)
    doc = await tokens.find_one(
        {"tokenHash": _hash(secret.strip())}, {"orgId": 1, "name": 1, "lastUsedAt": 1}
    )
    if doc is None:
        raise ScimError(401, "This SCIM token is unknown or revoked")
    now = utcnow()
    last = doc.get("lastUsedAt")
    if last is None or (now - last.replace(tzinfo=now.tzinfo)).total_seconds() > LAST_USED_EVERY_S:
        # When it was last used, to the minute: not a write on every provisioning request.
        await tokens.update_one({"_id": doc["_id"]}, {"$set": {"lastUsedAt": now}})
    return Scope(doc["orgId"], base, doc["name"])


async def _connection(clients: Clients, scope: Scope) -> SsoConnection:
    conn = await connection_of(clients.engine, scope.org_id)
    if conn is None:
        # Only the emails of the organization's own (claimed) domains are provisioned.
        raise invalid("Set up the organization's single sign-on first: SCIM provisions its domains")
    return conn


def _group_roles(conn: SsoConnection) -> dict[str, OrgRole]:
    return {entry["group"].lower(): cast(OrgRole, entry["role"]) for entry in conn.group_roles}


async def _audit(clients: Clients, scope: Scope, type_: str, **data: Any) -> None:
    await audit.record_now(
        clients, scope.org_id, audit.audit_entry(type_, None, via="scim", token=scope.actor, **data)
    )


# --- rendering


def _user_out(scope: Scope, record: ScimUser) -> User:
    user = User.model_validate_json(record.resource)
    user.id = str(record.id)
    user.meta = Meta(
        resource_type="User",
        created=record.created_at,
        last_modified=record.updated_at,
        location=f"{scope.base}/Users/{record.id}",
        version=f'W/"{record.version}"',
    )
    return user


def _group_out(scope: Scope, record: ScimGroup) -> Group:
    group = Group.model_validate_json(record.resource)
    group.id = str(record.id)
    group.meta = Meta(
        resource_type="Group",
        created=record.created_at,
        last_modified=record.updated_at,
        location=f"{scope.base}/Groups/{record.id}",
        version=f'W/"{record.version}"',
    )
    return group


def dump(resource: Any, context: Context, params: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = resource.model_dump(scim_ctx=context, response_parameters=params)
    return out


def _stored(resource: Any) -> str:
    return str(resource.model_dump_json(exclude={"id", "meta"}, exclude_none=True, by_alias=True))


# --- Users


async def _email_of(clients: Clients, conn: SsoConnection, user_name: str | None) -> str:
    try:
        email = normalize_email(user_name or "")
    except ValueError:
        raise invalid("userName must be the person's email address") from None
    domain = ascii_domain(email.rsplit("@", 1)[1])
    if domain not in conn.domains or not await holds_domain(clients.engine, conn.org_id, domain):
        raise invalid(
            "userName must be an email of a verified domain of the organization "
            f"({', '.join(conn.domains)})"
        )
    return email


def _display(user: User, email: str) -> str:
    name = user.display_name or (user.name.formatted if user.name else None)
    if not name and user.name and (user.name.given_name or user.name.family_name):
        name = " ".join(p for p in (user.name.given_name, user.name.family_name) if p)
    text = " ".join((name or email.split("@", 1)[0]).split())[:100]
    return text or email


async def _load_user(clients: Clients, scope: Scope, user_id: str) -> ScimUser:
    oid = parse_object_id(user_id)
    doc = (
        await clients.engine.get_collection(ScimUser).find_one({"_id": oid, "orgId": scope.org_id})
        if oid
        else None
    )
    if doc is None:
        raise ScimError(404, f"User {user_id} not found")
    return ScimUser.model_validate_doc(doc)


async def _role_for(clients: Clients, conn: SsoConnection | None, record_id: ObjectId) -> OrgRole:
    if conn is None:
        return "interviewer"
    mapping = _group_roles(conn)
    best: OrgRole = conn.default_role
    if mapping:
        cursor = clients.engine.get_collection(ScimGroup).find(
            {"orgId": conn.org_id, "memberIds": record_id}, {"displayName": 1}
        )
        roles = [
            mapping[d["displayName"].lower()]
            async for d in cursor
            if d["displayName"].lower() in mapping
        ]
        if roles:
            best = max(roles, key=lambda r: ROLE_STRENGTH.get(r, 0))
    return best


async def _sync_roles(
    clients: Clients, conn: SsoConnection, record_ids: Iterable[ObjectId]
) -> None:
    ids = list({*record_ids})
    if not ids or not conn.group_roles:
        return  # no group gives a role: roles are the organization's own business
    cursor = clients.engine.get_collection(ScimUser).find(
        {"_id": {"$in": ids}, "orgId": conn.org_id, "active": True}, {"userId": 1}
    )
    async for doc in cursor:
        role = await _role_for(clients, conn, doc["_id"])
        try:
            await orgs.set_provisioned_role(clients, conn.org_id, doc["userId"], role, "scim")
        except Conflict:
            # No seat for that role: this member keeps theirs; the others still change.
            log.warning("SCIM role of %s not applied: no seat", doc["userId"])


async def _account(
    clients: Clients, hasher: PasswordHasher, scope: Scope, email: str, display: str
) -> tuple[Account, bool]:
    """The account for this email: the organization's own, or a new one (True)."""
    account = await account_by_email(clients.engine, email)
    if account is None:
        return await auth_service.create_provisioned(
            clients, hasher, email, display, scope.org_id
        ), True
    role = await orgs.role_in(clients.engine, scope.org_id, account)
    if role is None and account.provisioned_by != scope.org_id:
        raise ScimError(
            409,
            "An account with this email exists outside the organization: invite it instead",
            "uniqueness",
        )
    # Created again after a DELETE: the provider speaks for the account again.
    await restore_to_org(clients, account.id, scope.org_id)
    return account, False


async def create_user(
    clients: Clients, hasher: PasswordHasher, scope: Scope, body: Any
) -> dict[str, Any]:
    conn = await _connection(clients, scope)
    try:
        user = User.model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    except ValidationError as exc:
        raise from_validation(exc) from None
    email = await _email_of(clients, conn, user.user_name)
    users = clients.engine.get_collection(ScimUser)
    if await users.find_one({"orgId": scope.org_id, "userName": email}, {"_id": 1}):
        raise ScimError(409, f"A User with userName {email} exists", "uniqueness")
    limit = clients.settings.scim_max_users
    if await users.count_documents({"orgId": scope.org_id}) >= limit:
        raise ScimError(400, f"An organization provisions at most {limit} Users", "tooMany")
    account, created = await _account(clients, hasher, scope, email, _display(user, email))
    record = ScimUser(
        org_id=scope.org_id,
        user_id=account.id,
        user_name=email,
        external_id=user.external_id,
        active=user.active is not False,
        resource=_stored(user),
    )
    try:
        await users.insert_one(record.model_dump_doc())
    except DuplicateKeyError:
        if created:
            await auth_service.discard_provisioned(clients, account)
        raise ScimError(409, f"A User with userName {email} exists", "uniqueness") from None
    try:
        role = await orgs.role_in(clients.engine, scope.org_id, account)
        if record.active and role is None:
            await orgs.provision_member(
                clients, scope.org_id, account.id, await _role_for(clients, conn, record.id), "scim"
            )
        elif not record.active and role is not None:
            await _deactivate(clients, scope, account.id)
    except BaseException as exc:
        # Nothing half-made stays: the IdP's retry starts from scratch.
        await users.delete_one({"_id": record.id})
        if created:
            await auth_service.discard_provisioned(clients, account)
        if isinstance(exc, Conflict):
            raise ScimError(409, exc.message) from None
        raise
    await _audit(
        clients,
        scope,
        "scim.user_created",
        userId=str(account.id),
        scimId=str(record.id),
        active=record.active,
    )
    return dump(_user_out(scope, record), Context.RESOURCE_CREATION_RESPONSE)


async def read_user(
    clients: Clients, scope: Scope, user_id: str, params: dict[str, str]
) -> dict[str, Any]:
    record = await _load_user(clients, scope, user_id)
    return dump(
        _user_out(scope, record), Context.RESOURCE_QUERY_RESPONSE, _response_params(User, params)
    )


async def _apply_user(
    clients: Clients, scope: Scope, record: ScimUser, user: User, change: str
) -> dict[str, Any]:
    """The new state of a User (PUT or PATCH): email, activity and stored attributes. The
    domains are checked only for a new userName: a deactivation goes through even after
    single sign-on was removed."""
    account = await get_user(clients.engine, str(record.user_id))
    if account is None:
        raise ScimError(404, f"User {record.id} not found")
    email = record.user_name
    if (user.user_name or "").strip().lower() != record.user_name:
        email = await _email_of(clients, await _connection(clients, scope), user.user_name)
        if account.provisioned_by != scope.org_id:
            raise ScimError(
                400,
                "The email of an account the organization did not create stays its own",
                "mutability",
            )
        if await clients.engine.get_collection(ScimUser).find_one(
            {"orgId": scope.org_id, "userName": email}, {"_id": 1}
        ):
            raise ScimError(409, f"A User with userName {email} exists", "uniqueness")
        if not await change_email(clients, account.id, email):
            raise ScimError(409, f"An account with email {email} exists", "uniqueness")
    active = user.active is not False
    role = await orgs.role_in(clients.engine, scope.org_id, account)
    if not active and role == "owner":
        raise ScimError(409, "The organization's owner is not deactivated by provisioning")
    # The record first: a single sign-on login racing a deactivation sees it (and is refused).
    written = await clients.engine.get_collection(ScimUser).find_one_and_update(
        {"_id": record.id, "version": record.version},
        {
            "$set": {
                "userName": email,
                "externalId": user.external_id,
                "active": active,
                "resource": _stored(user),
                "updatedAt": utcnow(),
            },
            "$inc": {"version": 1},
        },
        return_document=ReturnDocument.AFTER,
    )
    if written is None:
        raise ScimError(409, "The User changed meanwhile; retry")
    saved = ScimUser.model_validate_doc(written)
    conn = await connection_of(clients.engine, scope.org_id)
    # Decided from the membership itself, so a retry repairs what a failure left.
    if not active and role is not None:
        await _deactivate(clients, scope, account.id)
    elif active and role is None:
        try:
            await orgs.provision_member(
                clients, scope.org_id, account.id, await _role_for(clients, conn, saved.id), "scim"
            )
        except Conflict as exc:
            raise ScimError(409, exc.message) from None
    elif active and conn is not None and conn.group_roles:
        await _sync_roles(clients, conn, [saved.id])
    await _audit(
        clients,
        scope,
        f"scim.user_{change}",
        userId=str(account.id),
        scimId=str(saved.id),
        active=active,
    )
    return dump(_user_out(scope, saved), Context.RESOURCE_REPLACEMENT_RESPONSE)


async def _deactivate(clients: Clients, scope: Scope, account_id: ObjectId) -> None:
    try:
        await orgs.deprovision_member(clients, scope.org_id, account_id, "scim")
    except Conflict as exc:
        raise ScimError(409, exc.message) from None
    await revoke_tokens(clients, account_id)


def _replaced(model: Any, body: Any, current: Any) -> Any:
    """A PUT body as the resource it makes of `current` (read-only and immutable attributes
    kept or refused as RFC 7644 says)."""
    try:
        resource = model.model_validate(body, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
        resource.replace(current)
    except ValidationError as exc:
        raise from_validation(exc) from None
    except SCIMException as exc:
        raise from_scim(exc) from None
    return resource


def _patched(model: Any, body: Any, current: Any) -> Any:
    """`current` with a PATCH body's operations applied, validated again as a whole."""
    try:
        PatchOp[model].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST).patch(current)
        return model.model_validate(
            current.model_dump(scim_ctx=None, by_alias=True, exclude_none=True)
        )
    except ValidationError as exc:
        raise from_validation(exc) from None
    except SCIMException as exc:
        raise from_scim(exc) from None


async def replace_user(clients: Clients, scope: Scope, user_id: str, body: Any) -> dict[str, Any]:
    record = await _load_user(clients, scope, user_id)
    user = _replaced(User, body, _user_out(scope, record))
    return await _apply_user(clients, scope, record, user, "replaced")


async def patch_user(clients: Clients, scope: Scope, user_id: str, body: Any) -> dict[str, Any]:
    record = await _load_user(clients, scope, user_id)
    user = _patched(User, body, _user_out(scope, record))
    return await _apply_user(clients, scope, record, user, "updated")


async def delete_user(clients: Clients, scope: Scope, user_id: str) -> None:
    record = await _load_user(clients, scope, user_id)
    account = await get_user(clients.engine, str(record.user_id))
    role = await orgs.role_in(clients.engine, scope.org_id, account) if account else None
    if role == "owner":
        raise ScimError(409, "The organization's owner is not removed by provisioning")
    # Inactive and released first: a single sign-on login racing the deletion is refused.
    await clients.engine.get_collection(ScimUser).update_one(
        {"_id": record.id}, {"$set": {"active": False}, "$inc": {"version": 1}}
    )
    await release_from_org(clients, record.user_id, scope.org_id)
    if role is not None:
        await _deactivate(clients, scope, record.user_id)
    await _leave_groups(clients.engine, scope.org_id, record.id)
    await clients.engine.get_collection(ScimUser).delete_one({"_id": record.id})
    await _audit(
        clients, scope, "scim.user_deleted", userId=str(record.user_id), scimId=str(record.id)
    )


# --- lists


FILTERABLE = {
    "User": {"username": "userName", "externalid": "externalId", "id": "_id"},
    "Group": {"displayname": "displayName", "externalid": "externalId", "id": "_id"},
}


def _filter_query(kind: str, expression: Any) -> dict[str, Any]:
    """`attr eq "value"` on the indexed attributes, joined by `and`: what identity providers
    send (Okta, Entra ID). Anything else is 400 invalidFilter, not a scan."""
    if isinstance(expression, LogicalExpr) and expression.op.value == "and":
        parts = [_filter_query(kind, term) for term in expression.terms]
        return {"$and": parts}
    if isinstance(expression, Comparison) and expression.op.value == "eq":
        attr = (expression.attr_path.attr or "").lower()
        field = FILTERABLE[kind].get(attr)
        if field and expression.attr_path.sub_attr is None and isinstance(expression.value, str):
            value: Any = expression.value
            if field == "_id":
                value = parse_object_id(value)
            elif field == "userName":
                value = value.lower()
            if field == "displayName":
                return {"nameKey": value.lower()}
            return {field: value}
    raise ScimError(
        400,
        f"Only eq on {', '.join(sorted(set(FILTERABLE[kind].values()) - {'_id'}))} or id, "
        "joined by and, is supported",
        "invalidFilter",
    )


def _response_params(model: Any, params: dict[str, str]) -> Any:
    wanted = {k: v for k, v in params.items() if k in ("attributes", "excludedAttributes")}
    if not wanted:
        return None
    try:
        return ResponseParameters[model].model_validate(wanted)
    except ValidationError as exc:
        raise from_validation(exc) from None


async def list_resources(
    clients: Clients, scope: Scope, kind: str, params: dict[str, str]
) -> dict[str, Any]:
    model: Any = User if kind == "User" else Group
    try:
        search = SearchRequest[model].model_validate(
            {
                k: v
                for k, v in params.items()
                if k in ("filter", "startIndex", "count", "attributes", "excludedAttributes")
            },
            scim_ctx=Context.SEARCH_REQUEST,
        )
    except ValidationError as exc:
        raise ScimError(
            400,
            str(from_validation(exc).message),
            "invalidFilter" if "filter" in params else "invalidValue",
        ) from None
    query: dict[str, Any] = {"orgId": scope.org_id}
    if search.filter is not None:
        query.update(_filter_query(kind, search.filter.ast))
    # (past any real page: clamped, MongoDB's skip takes 64-bit integers only)
    start = min(max(1, search.start_index or 1), 1_000_000_000)
    count = min(
        clients.settings.scim_max_page,
        search.count if search.count is not None else clients.settings.scim_max_page,
    )
    collection = clients.engine.get_collection(ScimUser if kind == "User" else ScimGroup)
    total = await collection.count_documents(query)
    found: list[Any] = []
    if count > 0:
        cursor = collection.find(query)
        if "userName" not in query and "nameKey" not in query:  # (unique: one at most)
            cursor = cursor.sort("_id", 1)
        cursor = cursor.skip(start - 1).limit(count)
        async for doc in cursor:
            found.append(
                _user_out(scope, ScimUser.model_validate_doc(doc))
                if kind == "User"
                else _group_out(scope, ScimGroup.model_validate_doc(doc))
            )
    page = ListResponse[model](
        total_results=total, start_index=start, items_per_page=len(found), resources=found
    )
    out: dict[str, Any] = page.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=search
    )
    return out


# --- Groups


async def _load_group(clients: Clients, scope: Scope, group_id: str) -> ScimGroup:
    oid = parse_object_id(group_id)
    doc = (
        await clients.engine.get_collection(ScimGroup).find_one({"_id": oid, "orgId": scope.org_id})
        if oid
        else None
    )
    if doc is None:
        raise ScimError(404, f"Group {group_id} not found")
    return ScimGroup.model_validate_doc(doc)


async def _member_ids(clients: Clients, scope: Scope, group: Group) -> list[ObjectId]:
    members = group.members or []
    if len(members) > clients.settings.scim_max_group_members:
        raise invalid(
            f"A group has at most {clients.settings.scim_max_group_members} members", "tooMany"
        )
    ids = []
    for member in members:
        oid = parse_object_id(member.value or "")
        if oid is None or (member.type not in (None, "User")):
            raise invalid(f"member {member.value!r} is not a User of this organization")
        ids.append(oid)
    unique = list(dict.fromkeys(ids))
    if unique:
        found = await clients.engine.get_collection(ScimUser).count_documents(
            {"_id": {"$in": unique}, "orgId": scope.org_id}
        )
        if found != len(unique):
            raise invalid("Every member must be a User of this organization")
    return unique


async def create_group(clients: Clients, scope: Scope, body: Any) -> dict[str, Any]:
    conn = await _connection(clients, scope)
    try:
        group = Group.model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    except ValidationError as exc:
        raise from_validation(exc) from None
    groups = clients.engine.get_collection(ScimGroup)
    if await groups.count_documents({"orgId": scope.org_id}) >= clients.settings.scim_max_groups:
        raise ScimError(
            400, f"An organization has at most {clients.settings.scim_max_groups} groups", "tooMany"
        )
    members = await _member_ids(clients, scope, group)
    await _check_group_name(clients, scope, (group.display_name or "").lower())
    record = ScimGroup(
        org_id=scope.org_id,
        display_name=group.display_name or "",
        name_key=(group.display_name or "").lower(),
        external_id=group.external_id,
        member_ids=members,
        resource=_stored(group),
    )
    try:
        await groups.insert_one(record.model_dump_doc())
    except DuplicateKeyError:  # the same name, created at the same moment
        raise ScimError(409, "A Group of that displayName exists", "uniqueness") from None
    await _sync_roles(clients, conn, members)
    await _audit(
        clients,
        scope,
        "scim.group_created",
        groupId=str(record.id),
        name=record.display_name,
        members=len(members),
    )
    return dump(_group_out(scope, record), Context.RESOURCE_CREATION_RESPONSE)


async def read_group(
    clients: Clients, scope: Scope, group_id: str, params: dict[str, str]
) -> dict[str, Any]:
    record = await _load_group(clients, scope, group_id)
    return dump(
        _group_out(scope, record), Context.RESOURCE_QUERY_RESPONSE, _response_params(Group, params)
    )


async def _check_group_name(
    clients: Clients, scope: Scope, name_key: str, other_than: ObjectId | None = None
) -> None:
    """Group names are unique in an organization (an identity provider retrying a create
    finds its group by name; roles map by name)."""
    query: dict[str, Any] = {"orgId": scope.org_id, "nameKey": name_key}
    if other_than is not None:
        query["_id"] = {"$ne": other_than}
    if await clients.engine.get_collection(ScimGroup).find_one(query, {"_id": 1}):
        raise ScimError(409, "A Group of that displayName exists", "uniqueness")


async def _apply_group(
    clients: Clients, scope: Scope, record: ScimGroup, group: Group, change: str
) -> dict[str, Any]:
    conn = await _connection(clients, scope)
    members = await _member_ids(clients, scope, group)
    await _check_group_name(clients, scope, (group.display_name or "").lower(), record.id)
    try:
        written = await clients.engine.get_collection(ScimGroup).find_one_and_update(
            {"_id": record.id, "version": record.version},
            {
                "$set": {
                    "displayName": group.display_name or "",
                    "nameKey": (group.display_name or "").lower(),
                    "externalId": group.external_id,
                    "memberIds": members,
                    "resource": _stored(group),
                    "updatedAt": utcnow(),
                },
                "$inc": {"version": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:
        raise ScimError(409, "A Group of that displayName exists", "uniqueness") from None
    if written is None:
        raise ScimError(409, "The Group changed meanwhile; retry")
    saved = ScimGroup.model_validate_doc(written)
    # Only the people whose groups changed (everyone, when the name that maps it did).
    renamed = saved.name_key != record.name_key
    changed = set(record.member_ids) ^ set(members)
    await _sync_roles(clients, conn, [*record.member_ids, *members] if renamed else changed)
    await _audit(
        clients,
        scope,
        f"scim.group_{change}",
        groupId=str(saved.id),
        name=saved.display_name,
        members=len(members),
    )
    return dump(_group_out(scope, saved), Context.RESOURCE_REPLACEMENT_RESPONSE)


async def replace_group(clients: Clients, scope: Scope, group_id: str, body: Any) -> dict[str, Any]:
    record = await _load_group(clients, scope, group_id)
    group = _replaced(Group, body, _group_out(scope, record))
    return await _apply_group(clients, scope, record, group, "replaced")


async def patch_group(clients: Clients, scope: Scope, group_id: str, body: Any) -> dict[str, Any]:
    record = await _load_group(clients, scope, group_id)
    group = _patched(Group, body, _group_out(scope, record))
    return await _apply_group(clients, scope, record, group, "updated")


async def delete_group(clients: Clients, scope: Scope, group_id: str) -> None:
    record = await _load_group(clients, scope, group_id)
    conn = await _connection(clients, scope)
    await clients.engine.get_collection(ScimGroup).delete_one({"_id": record.id})
    await _sync_roles(clients, conn, record.member_ids)
    await _audit(
        clients, scope, "scim.group_deleted", groupId=str(record.id), name=record.display_name
    )
