"""Organizations, their members and seats. Members and invitations live in the organization
document and every change to them is one conditional update on its `version` (re-read and
decided again when another change came first), so taking the last seat is atomic: of many
concurrent accepts exactly one wins. Each change carries its audit entry (tq.orgs.audit)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine

from config import Settings
from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.erasure import Erasure
from tq.core.errors import Conflict, Forbidden, Gone, NotFound
from tq.core.security import link_token, new_nonce, token_hash
from tq.core.time import Deadline, utcnow
from tq.orgs import audit, store
from tq.orgs.events import (
    CandidateErasing,
    MemberLeaving,
    OrgDeleting,
    OrgInvitationIssued,
    PersonalOrgReady,
)
from tq.orgs.models import (
    AuditEntry,
    Organization,
    OrgInvitation,
    OrgInvitationStatus,
    OrgMember,
    OrgRole,
)
from tq.orgs.permissions import SEAT_ROLES, Action, allows
from tq.orgs.schemas import CreateOrgIn, InviteMemberIn, UpdateOrgIn
from tq.users.models import User
from tq.users.service import users_after, users_by_email

ATTEMPTS = 8
ORG_INVITATION_LINK = "org-invitation"


class RoleForbids(Forbidden):
    code = "org_role_forbids"

    def __init__(self, role: str, action: Action) -> None:
        super().__init__(f"An organization's {role} may not do this ({action.value})")


def _changed_meanwhile() -> Conflict:
    return Conflict("The organization changed meanwhile; retry", code="conflict")


def takes_seat(role: OrgRole) -> bool:
    return role in SEAT_ROLES


# --- access


async def role_in(engine: AIOEngine, org_id: ObjectId | None, user: User) -> OrgRole | None:
    """`user`'s role in the organization (None: not a member, or no organization): one
    projected read by `_id`."""
    if org_id is None:
        return None
    if org_id == user.id:
        return "owner"  # a personal organization's id is its owner's: nothing to read
    members = await store.member_roles(engine, org_id, user.id)
    return next((m["role"] for m in members if m["userId"] == user.id), None)


def check(role: OrgRole | None, action: Action, hidden: NotFound) -> None:
    """Nothing of an organization exists for a non-member (`hidden`, a 404); a member whose
    role does not allow `action` gets 403."""
    if role is None:
        raise hidden
    if not allows(role, action):
        raise RoleForbids(role, action)


async def org_for(engine: AIOEngine, org_id: str, user: User, action: Action) -> Organization:
    """The organization in the path, if `user` may do `action` in it."""
    org = await store.load(engine, org_id)
    check(org.role_of(user.id), action, store.not_found())
    return org


# --- organizations


async def ensure_personal(clients: Clients, user: User) -> Organization:
    """The account's personal organization (its `_id` is the account's): created on first
    need and by the migration, idempotently."""
    return await _ensure_personal(clients, user.id, user.name)


async def _ensure_personal(clients: Clients, user_id: ObjectId, name: str) -> Organization:
    org = await store.find(clients.engine, user_id)
    if org is not None:
        return org
    personal = Organization(
        id=user_id,
        name=f"{name} (personal)"[:100],
        personal=True,
        members=[OrgMember(user_id=user_id, role="owner")],
        member_ids=[user_id],
        seat_limit=clients.settings.org_default_seats,
        seats_left=clients.settings.org_default_seats - 1,
        outbox_audit=[audit.audit_entry("org.created", user_id, personal=True)],
        audit_pending=True,
    )
    await store.upsert_personal(clients.engine, personal)
    created = await store.load(clients.engine, user_id)
    await audit.move_to_log(clients, created)
    return created


async def personal_default_criteria(engine: AIOEngine, user: User) -> list[str] | None:
    """The scorecard criteria the account's personal organization gives its new sessions."""
    return await store.default_criteria(engine, user.id)


MIGRATION = "personal_orgs"


async def migrate_to_personal_orgs(clients: Clients, deadline: Deadline) -> dict[str, int]:
    """Every account gets its personal organization, and what it owns that belongs to no
    organization (hosted sessions, webhook endpoints) joins it (the PersonalOrgReady
    reactions). Walks the accounts in `_id` order, saving how far it got after each batch:
    a run stopped midway (killed, or at `deadline`) goes on where it was; each step is
    conditional, so a repeated one changes nothing."""
    counts = {"accounts": 0, "created": 0, "stopped_at_budget": 0}
    state = await store.migration_state(clients.engine, MIGRATION)
    batch = min(clients.settings.job_batch_size, 500)
    while True:
        users = await users_after(clients.engine, state.after, batch)
        if not users:
            break
        for user_id, name in users:
            if deadline.passed:
                counts["stopped_at_budget"] = 1
                await store.save_migration_state(clients.engine, state)
                return counts
            existed = await store.find(clients.engine, user_id) is not None
            org = await _ensure_personal(clients, user_id, name)
            await clients.events.publish(PersonalOrgReady(user_id, org.id))
            counts["accounts"] += 1
            counts["created"] += 0 if existed else 1
            state.after = user_id
        await store.save_migration_state(clients.engine, state)
    state.finished_at = utcnow()
    await store.save_migration_state(clients.engine, state)
    return counts


async def create_org(clients: Clients, owner: User, data: CreateOrgIn) -> Organization:
    settings = clients.settings
    owned = await store.of_member(clients.engine, owner.id, None)
    if sum(1 for o in owned if not o.personal and o.role_of(owner.id) == "owner") >= (
        settings.org_max_owned
    ):
        raise Conflict(
            f"An account owns at most {settings.org_max_owned} organizations",
            code="too_many_orgs",
        )
    seats = data.seatLimit or settings.org_default_seats
    _check_seat_limit(settings, seats)
    org = Organization(
        name=data.name,
        members=[OrgMember(user_id=owner.id, role="owner")],
        member_ids=[owner.id],
        seat_limit=seats,
        seats_left=seats - 1,
        outbox_audit=[audit.audit_entry("org.created", owner.id, name=data.name)],
        audit_pending=True,
    )
    await store.insert(clients.engine, org)
    await audit.move_to_log(clients, org)
    return org


async def list_orgs(clients: Clients, user: User) -> list[Organization]:
    await ensure_personal(clients, user)
    return await store.of_member(clients.engine, user.id, clients.settings.org_max_listed)


def _check_seat_limit(settings: Settings, seats: int) -> None:
    if seats > settings.org_max_seats:
        raise Conflict(
            f"An organization has at most {settings.org_max_seats} seats",
            code="seat_limit_too_high",
        )


async def _write(
    clients: Clients,
    org: Organization,
    change: dict[str, Any],
    entries: list[AuditEntry],
    filter_: dict[str, Any] | None = None,
) -> Organization | None:
    """One conditional change of members or invitations (or settings), on the version read."""
    change.setdefault("$inc", {})["version"] = 1
    written = await store.update(
        clients, {"_id": org.id, "version": org.version, **(filter_ or {})}, change, entries
    )
    if written is not None:
        await audit.move_to_log(clients, written)
    return written


async def update_org(clients: Clients, org_id: str, actor: User, data: UpdateOrgIn) -> Organization:
    for _ in range(ATTEMPTS):
        org = await org_for(clients.engine, org_id, actor, Action.ORG_UPDATE)
        change: dict[str, Any] = {"$set": {}}
        fields = sorted(data.model_fields_set)
        if data.name is not None:
            change["$set"]["name"] = data.name
        if "defaultCriteria" in data.model_fields_set:
            change["$set"]["defaultCriteria"] = data.defaultCriteria
        if data.seatLimit is not None and data.seatLimit != org.seat_limit:
            _check_seat_limit(clients.settings, data.seatLimit)
            used = org.seat_limit - org.seats_left
            if data.seatLimit < used:
                raise Conflict(f"{used} seats are taken", code="below_seats_taken")
            change["$set"]["seatLimit"] = data.seatLimit
            change["$inc"] = {"seatsLeft": data.seatLimit - org.seat_limit}
        entry = audit.audit_entry("org.updated", actor.id, fields=fields)
        written = await _write(clients, org, change, [entry])
        if written is not None:
            return written
    raise _changed_meanwhile()


async def delete_org(clients: Clients, org_id: str, actor: User) -> None:
    org = await org_for(clients.engine, org_id, actor, Action.ORG_DELETE)
    if org.personal:
        raise Conflict("A personal organization is deleted with its account", code="personal_org")
    successor = await ensure_personal(clients, actor)
    # Its sessions move to the owner's personal organization first (their records stay
    # readable by their own people), then the organization and its audit log go.
    await clients.events.publish(OrgDeleting(org.id, successor.id))
    await store.delete(clients.engine, org.id)
    await audit.forget_org_audit(clients, org.id)
    await audit.record_now(
        clients,
        successor.id,
        audit.audit_entry("org.deleted", actor.id, orgId=str(org.id), name=org.name),
    )


async def transfer(clients: Clients, org_id: str, actor: User, to_user: str) -> Organization:
    """The owner hands ownership to another member and becomes an admin."""
    target = parse_object_id(to_user)
    for _ in range(ATTEMPTS):
        org = await org_for(clients.engine, org_id, actor, Action.ORG_TRANSFER)
        if org.personal:
            raise Conflict("A personal organization keeps its owner", code="personal_org")
        role = org.role_of(target) if target else None
        if target is None or role is None:
            raise NotFound("Member not found", code="member_not_found")
        if target == actor.id:
            return org
        members = [
            m.model_copy(update={"role": "owner"})
            if m.user_id == target
            else m.model_copy(update={"role": "admin"})
            if m.user_id == actor.id
            else m
            for m in org.members
        ]
        change: dict[str, Any] = {"$set": {"members": [m.model_dump_doc() for m in members]}}
        filter_: dict[str, Any] = {}
        if not takes_seat(role):
            filter_["seatsLeft"] = {"$gt": 0}
            change["$inc"] = {"seatsLeft": -1}
        entry = audit.audit_entry(
            "org.ownership_transferred", actor.id, userId=str(target), fromRole=role
        )
        written = await _write(clients, org, change, [entry], filter_)
        if written is not None:
            return written
        current = await store.load(clients.engine, org.id)
        if current.version == org.version and current.seats_left <= 0:
            raise Conflict("No seat is left for the new owner", code="no_seats_left")
    raise _changed_meanwhile()


# --- members


def _role_change(
    org: Organization, target: ObjectId, current: OrgRole, role: OrgRole
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(update, extra filter) that give `target` the role `role`, on the version read: a
    seat taken (only while one is left) or freed as the roles need."""
    members = [
        (m.model_copy(update={"role": role}) if m.user_id == target else m).model_dump_doc()
        for m in org.members
    ]
    change: dict[str, Any] = {"$set": {"members": members}}
    filter_: dict[str, Any] = {}
    if takes_seat(role) and not takes_seat(current):
        filter_["seatsLeft"] = {"$gt": 0}
        change["$inc"] = {"seatsLeft": -1}
    elif takes_seat(current) and not takes_seat(role):
        change["$inc"] = {"seatsLeft": 1}
    return change, filter_


async def change_role(
    clients: Clients, org_id: str, actor: User, user_id: str, role: OrgRole
) -> Organization:
    target = parse_object_id(user_id)
    for _ in range(ATTEMPTS):
        org = await org_for(clients.engine, org_id, actor, Action.MEMBERS_MANAGE)
        current = org.role_of(target) if target else None
        if target is None or current is None:
            raise NotFound("Member not found", code="member_not_found")
        if current == role:
            return org
        if "owner" in (current, role):
            raise Conflict(
                "Ownership changes hands by POST /api/orgs/:id/transfer", code="owner_role"
            )
        change, filter_ = _role_change(org, target, current, role)
        entry = audit.audit_entry(
            "member.role_changed", actor.id, userId=str(target), fromRole=current, toRole=role
        )
        written = await _write(clients, org, change, [entry], filter_)
        if written is not None:
            return written
        reread = await store.load(clients.engine, org.id)
        if reread.version == org.version and reread.seats_left <= 0:
            raise Conflict("Every seat is taken", code="no_seats_left")
    raise _changed_meanwhile()


async def remove_member(
    clients: Clients, org_id: str, actor: User, user_id: str, hand_to: str | None
) -> Organization:
    """Frees the member's seat; their upcoming sessions of the organization go to `hand_to`
    (an owner or admin), by default to the admin removing them."""
    target = parse_object_id(user_id)
    for _ in range(ATTEMPTS):
        org = await org_for(clients.engine, org_id, actor, Action.MEMBERS_MANAGE)
        current = org.role_of(target) if target else None
        if target is None or current is None:
            raise NotFound("Member not found", code="member_not_found")
        if current == "owner":
            raise Conflict("Transfer ownership before removing the owner", code="owner_role")
        successor = parse_object_id(hand_to) if hand_to else actor.id
        if successor is None or org.role_of(successor) not in ("owner", "admin"):
            raise Conflict("Sessions are handed to an owner or admin", code="bad_successor")
        if successor == target:
            raise Conflict("Sessions are handed to someone who stays", code="bad_successor")
        await clients.events.publish(MemberLeaving(org.id, target, successor))
        # The list as it stays, on the version read (FerretDB v1 has no $pull by condition).
        change: dict[str, Any] = {
            "$set": {"members": [m.model_dump_doc() for m in org.members if m.user_id != target]},
            "$pull": {"memberIds": target},
        }
        if takes_seat(current):
            change["$inc"] = {"seatsLeft": 1}
        entry = audit.audit_entry(
            "member.removed", actor.id, userId=str(target), role=current, handedTo=str(successor)
        )
        written = await _write(clients, org, change, [entry])
        if written is not None:
            return written
    raise _changed_meanwhile()


# --- invitations


def invitation_token(settings: Settings, org_id: ObjectId, invitation: OrgInvitation) -> str:
    """The invitation's link token, derived again from its nonce (never stored)."""
    return link_token(
        settings.jwt_secret, ORG_INVITATION_LINK, f"{org_id}:{invitation.id}", invitation.nonce
    )


def org_invite_url(settings: Settings, token: str) -> str:
    return f"{settings.app_url}/org-invitations/{token}"


def invitation_status(invitation: OrgInvitation, now: Any) -> OrgInvitationStatus:
    if invitation.status != "pending":
        return invitation.status
    return "expired" if now >= invitation.expires_at else "pending"


async def _rewrite_invitations(
    clients: Clients,
    org: Organization,
    invitations: list[OrgInvitation],
    entries: list[AuditEntry],
    change: dict[str, Any] | None = None,
    filter_: dict[str, Any] | None = None,
) -> Organization | None:
    change = dict(change or {})
    change["$set"] = {
        **change.get("$set", {}),
        "invitations": [inv.model_dump_doc() for inv in invitations],
        "inviteTokens": [inv.token_hash for inv in invitations if inv.status == "pending"],
    }
    return await _write(clients, org, change, entries, filter_)


async def invite(
    clients: Clients, org_id: str, actor: User, data: InviteMemberIn
) -> tuple[Organization, OrgInvitation, str]:
    settings = clients.settings
    for _ in range(ATTEMPTS):
        org = await org_for(clients.engine, org_id, actor, Action.MEMBERS_MANAGE)
        if org.personal:
            raise Conflict(
                "A personal organization has no other members: create a team for that",
                code="personal_org",
            )
        if data.role == "owner":
            raise Conflict(
                "Ownership changes hands by POST /api/orgs/:id/transfer", code="owner_role"
            )
        now = utcnow()
        pending = [i for i in org.invitations if invitation_status(i, now) == "pending"]
        if any(i.email == data.email for i in pending):
            raise Conflict("This email already has a pending invitation", code="already_invited")
        if len(org.invitations) >= settings.org_max_invitations:
            # Answered ones make room first: the oldest finished invitations are dropped.
            kept = [i for i in org.invitations if invitation_status(i, now) == "pending"]
            if len(kept) >= settings.org_max_invitations:
                raise Conflict(
                    f"An organization holds at most {settings.org_max_invitations} "
                    "pending invitations",
                    code="too_many_invitations",
                )
            base = kept
        else:
            base = list(org.invitations)
        invitation = OrgInvitation(
            email=data.email,
            role=data.role,
            nonce=new_nonce(),
            token_hash="",
            invited_by=actor.id,
            expires_at=now + timedelta(days=settings.invite_ttl_days),
            created_at=now,
        )
        token = invitation_token(settings, org.id, invitation)
        invitation.token_hash = token_hash(token)
        entry = audit.audit_entry(
            "member.invited", actor.id, invitationId=str(invitation.id), role=data.role
        )
        written = await _rewrite_invitations(clients, org, [*base, invitation], [entry])
        if written is not None:
            await clients.events.publish(OrgInvitationIssued(org.id, invitation.id))
            return written, invitation, org_invite_url(settings, token)
    raise _changed_meanwhile()


async def revoke(clients: Clients, org_id: str, actor: User, invitation_id: str) -> None:
    oid = parse_object_id(invitation_id)
    for _ in range(ATTEMPTS):
        org = await org_for(clients.engine, org_id, actor, Action.MEMBERS_MANAGE)
        found = next((i for i in org.invitations if i.id == oid), None)
        if found is None:
            raise NotFound("Invitation not found", code="invitation_not_found")
        if found.status == "revoked":
            return
        if found.status == "accepted":
            raise Conflict("This invitation was accepted already", code="invitation_accepted")
        invitations = [
            i.model_copy(update={"status": "revoked", "revoked_at": utcnow()}) if i.id == oid else i
            for i in org.invitations
        ]
        entry = audit.audit_entry("invitation.revoked", actor.id, invitationId=str(oid))
        if await _rewrite_invitations(clients, org, invitations, [entry]) is not None:
            return
    raise _changed_meanwhile()


async def by_token(engine: AIOEngine, token: str) -> tuple[Organization, OrgInvitation]:
    hashed = token_hash(token)
    org = await store.by_invite_token(engine, hashed)
    invitation = next((i for i in org.invitations if i.token_hash == hashed), None) if org else None
    if org is None or invitation is None:
        raise NotFound("Invitation not found", code="invitation_not_found")
    return org, invitation


async def accept(clients: Clients, token: str, user: User) -> Organization:
    """Become a member with the invited role: the invitation is marked accepted and, for a
    role that takes one, a seat taken, in one conditional update."""
    for _ in range(ATTEMPTS):
        org, invitation = await by_token(clients.engine, token)
        status = invitation_status(invitation, utcnow())
        if status != "pending":
            raise Gone(f"This invitation is {status}", code=f"invitation_{status}")
        if not clients.settings.invite_any_account and user.email != invitation.email:
            raise Forbidden(
                "This invitation was sent to another email address",
                code="invitation_email_mismatch",
            )
        if org.role_of(user.id) is not None:
            raise Conflict("You are already a member", code="already_member")
        now = utcnow()
        invitations = [
            i.model_copy(update={"status": "accepted", "accepted_at": now, "accepted_by": user.id})
            if i.id == invitation.id
            else i
            for i in org.invitations
        ]
        member = OrgMember(user_id=user.id, role=invitation.role, joined_at=now)
        change: dict[str, Any] = {
            "$push": {"members": member.model_dump_doc(), "memberIds": user.id}
        }
        filter_: dict[str, Any] = {"memberIds": {"$ne": user.id}}
        if takes_seat(invitation.role):
            filter_["seatsLeft"] = {"$gt": 0}
            change["$inc"] = {"seatsLeft": -1}
        entry = audit.audit_entry(
            "member.joined",
            user.id,
            userId=str(user.id),
            role=invitation.role,
            invitationId=str(invitation.id),
        )
        written = await _rewrite_invitations(clients, org, invitations, [entry], change, filter_)
        if written is not None:
            return written
        current = await store.load(clients.engine, org.id)
        if current.version != org.version:
            continue  # another change came first: decide again
        if takes_seat(invitation.role) and current.seats_left <= 0:
            raise Conflict("Every seat of this organization is taken", code="no_seats_left")
    raise _changed_meanwhile()


# --- account deletion


async def release_closing_account(clients: Clients, user_id: ObjectId) -> None:
    """Account deletion (the AccountClosing reaction, run before the others): refused while
    the account owns a team that has other members (ownership is transferred first).
    Otherwise it leaves every team as a removal would (its sessions there go to the team's
    owner, its seat is freed), and the organizations it alone belongs to go, its personal one
    among them, with their endpoints and audit logs."""
    orgs = await store.of_member(clients.engine, user_id, None)
    for org in orgs:
        if org.role_of(user_id) == "owner" and len(org.members) > 1:
            raise Conflict(f"Transfer the ownership of {org.name} first", code="owns_organization")
    for org in orgs:
        if len(org.members) == 1:
            await clients.events.publish(OrgDeleting(org.id, None))
            await store.delete(clients.engine, org.id)
            await audit.forget_org_audit(clients, org.id)
            continue
        owner = next(m.user_id for m in org.members if m.role == "owner")
        await clients.events.publish(MemberLeaving(org.id, user_id, owner))
        current: Organization | None = org
        for _ in range(ATTEMPTS):
            role = current.role_of(user_id) if current else None
            if current is None or role is None:
                break
            kept = [m.model_dump_doc() for m in current.members if m.user_id != user_id]
            change: dict[str, Any] = {"$set": {"members": kept}, "$pull": {"memberIds": user_id}}
            if takes_seat(role):
                change["$inc"] = {"seatsLeft": 1}
            entry = audit.audit_entry(
                "member.removed", None, userId=str(user_id), role=role, reason="account_deleted"
            )
            if await _write(clients, current, change, [entry]) is not None:
                break
            current = await store.find(clients.engine, org.id)


# --- a candidate's data


async def erase_candidate(clients: Clients, org_id: str, actor: User, email: str) -> Erasure:
    """Removes or anonymises what the organization's sessions keep of this person (the
    CandidateErasing reactions: invitations and seats, chat, runs, code, emails, names in
    notes, scorecards and webhook payloads), then says what in the audit log, which keeps a
    digest of the address, not the address. Their account, if any, is theirs and stays."""
    org = await org_for(clients.engine, org_id, actor, Action.CANDIDATES_DELETE)
    account = (await users_by_email(clients.engine, [email])).get(email)
    if account is not None and org.role_of(account.id) is not None:
        raise Conflict("This is a member of the organization, not a candidate", code="is_member")
    erasure = Erasure(
        email=email,
        user_id=account.id if account else None,
        names={account.name} if account else set(),
    )
    await clients.events.publish(CandidateErasing(org.id, erasure))
    entry = audit.audit_entry(
        "candidate.deleted",
        actor.id,
        emailSha256=erasure.email_digest(),
        sessions=len(erasure.session_ids),
        removed=dict(erasure.removed),
    )
    await audit.record_now(clients, org.id, entry)
    return erasure


# --- provisioning by the organization's identity provider (tq.sso, tq.scim)


async def provision_member(
    clients: Clients, org_id: ObjectId, user_id: ObjectId, role: OrgRole, via: str
) -> Organization:
    """Make the account a member with `role` (its single sign-on's first login, or SCIM),
    taking a seat for a role that needs one, in one conditional update; a member already
    keeps their role. 409 `no_seats_left` when every seat is taken."""
    for _ in range(ATTEMPTS):
        org = await store.load(clients.engine, org_id)
        if org.role_of(user_id) is not None:
            return org
        member = OrgMember(user_id=user_id, role=role, joined_at=utcnow())
        change: dict[str, Any] = {
            "$push": {"members": member.model_dump_doc(), "memberIds": user_id}
        }
        filter_: dict[str, Any] = {"memberIds": {"$ne": user_id}}
        if takes_seat(role):
            filter_["seatsLeft"] = {"$gt": 0}
            change["$inc"] = {"seatsLeft": -1}
        entry = audit.audit_entry("member.joined", None, userId=str(user_id), role=role, via=via)
        written = await _write(clients, org, change, [entry], filter_)
        if written is not None:
            return written
        current = await store.load(clients.engine, org.id)
        if current.version == org.version and takes_seat(role) and current.seats_left <= 0:
            raise Conflict(
                "Every seat of this organization is taken; ask its admin for one",
                code="no_seats_left",
            )
    raise _changed_meanwhile()


async def set_provisioned_role(
    clients: Clients, org_id: ObjectId, user_id: ObjectId, role: OrgRole, via: str
) -> Organization:
    """The identity provider's groups say `role`: as `change_role`, with no acting member.
    The owner's role is never changed this way (ownership moves only by transfer)."""
    for _ in range(ATTEMPTS):
        org = await store.load(clients.engine, org_id)
        current = org.role_of(user_id)
        if current is None or current == role or "owner" in (current, role):
            return org
        change, filter_ = _role_change(org, user_id, current, role)
        entry = audit.audit_entry(
            "member.role_changed", None, userId=str(user_id), fromRole=current, toRole=role, via=via
        )
        written = await _write(clients, org, change, [entry], filter_)
        if written is not None:
            return written
        reread = await store.load(clients.engine, org.id)
        if reread.version == org.version and reread.seats_left <= 0:
            raise Conflict("Every seat is taken", code="no_seats_left")
    raise _changed_meanwhile()


async def deprovision_member(
    clients: Clients, org_id: ObjectId, user_id: ObjectId, via: str
) -> bool:
    """The identity provider removed or deactivated the person: they leave as a removal
    would (their sessions of the organization go to its owner, their seat is freed). The
    owner is never removed this way (409). False when they were no member."""
    for _ in range(ATTEMPTS):
        org = await store.load(clients.engine, org_id)
        role = org.role_of(user_id)
        if role is None:
            return False
        if role == "owner":
            raise Conflict(
                "The organization's owner is not removed by provisioning; transfer ownership first",
                code="owner_role",
            )
        owner = next(m.user_id for m in org.members if m.role == "owner")
        await clients.events.publish(MemberLeaving(org.id, user_id, owner))
        kept = [m.model_dump_doc() for m in org.members if m.user_id != user_id]
        change: dict[str, Any] = {"$set": {"members": kept}, "$pull": {"memberIds": user_id}}
        if takes_seat(role):
            change["$inc"] = {"seatsLeft": 1}
        entry = audit.audit_entry(
            "member.removed", None, userId=str(user_id), role=role, handedTo=str(owner), via=via
        )
        if await _write(clients, org, change, [entry]) is not None:
            return True
    raise _changed_meanwhile()
