"""Who may do what: the one table of organization roles by actions, and which action every
operation of the API is. The README's table is generated from `TABLE`
(`python -m tq.orgs.permissions`), and tests/orgs/test_permission_walk.py calls every operation
of the OpenAPI spec as each role and as a member of another organization, and compares each
answer to these tables: an operation missing from `OPERATIONS` fails it.

A session's own people (host, panel, candidate) keep the rights their session role gives them
whatever their organization role; the table says what an organization role adds on the
organization's other sessions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from tq.orgs.models import ORG_ROLES, OrgRole


class Action(StrEnum):
    ORG_READ = "org.read"
    ORG_UPDATE = "org.update"
    ORG_DELETE = "org.delete"
    ORG_TRANSFER = "org.transfer"
    MEMBERS_READ = "members.read"
    MEMBERS_MANAGE = "members.manage"
    AUDIT_READ = "audit.read"
    CANDIDATES_DELETE = "candidates.delete"
    SESSIONS_CREATE = "sessions.create"
    SESSIONS_READ = "sessions.read"
    SESSIONS_MANAGE = "sessions.manage"
    RECORDS_READ = "records.read"
    NOTES_READ = "notes.read"
    WEBHOOKS_MANAGE = "webhooks.manage"
    PROBLEMS_READ = "problems.read"
    PROBLEMS_MANAGE = "problems.manage"
    TEMPLATES_MANAGE = "templates.manage"
    SSO_MANAGE = "sso.manage"


ALL: frozenset[OrgRole] = frozenset(ORG_ROLES)
ADMINS: frozenset[OrgRole] = frozenset({"owner", "admin"})

# role by action: the source of truth.
TABLE: dict[Action, frozenset[OrgRole]] = {
    Action.ORG_READ: ALL,
    Action.ORG_UPDATE: ADMINS,
    Action.ORG_DELETE: frozenset({"owner"}),
    Action.ORG_TRANSFER: frozenset({"owner"}),
    Action.MEMBERS_READ: ALL,
    Action.MEMBERS_MANAGE: ADMINS,
    Action.AUDIT_READ: ADMINS,
    Action.CANDIDATES_DELETE: ADMINS,
    # Everyone schedules; recruiters manage every session of the team (reschedule, invite,
    # cancel), interviewers their own (as hosts).
    Action.SESSIONS_CREATE: ALL,
    Action.SESSIONS_READ: ALL,
    Action.SESSIONS_MANAGE: frozenset({"owner", "admin", "recruiter"}),
    # Records (timeline, transcript, runs, scorecards once the record is ready): recruiters
    # too; the panel's notes in them only for a role that reads notes.
    Action.RECORDS_READ: ALL,
    Action.NOTES_READ: frozenset({"owner", "admin", "interviewer"}),
    Action.WEBHOOKS_MANAGE: ADMINS,
    # The question bank: every member reads it (hidden tests too: candidates are never
    # members); the people who interview write it. Scorecard templates are the team's
    # rubric: its admins keep them.
    Action.PROBLEMS_READ: ALL,
    Action.PROBLEMS_MANAGE: frozenset({"owner", "admin", "interviewer"}),
    Action.TEMPLATES_MANAGE: ADMINS,
    # Single sign-on and SCIM provisioning decide who gets in: the organization's admins.
    Action.SSO_MANAGE: ADMINS,
}

WHAT = {
    Action.ORG_READ: "see the organization and its scorecard templates",
    Action.ORG_UPDATE: "rename it, change seats and settings",
    Action.ORG_DELETE: "delete the organization",
    Action.ORG_TRANSFER: "hand ownership to another member",
    Action.MEMBERS_READ: "see members and invitations",
    Action.MEMBERS_MANAGE: "invite, change roles, remove members",
    Action.AUDIT_READ: "read the audit log",
    Action.CANDIDATES_DELETE: "delete a candidate's data",
    Action.SESSIONS_CREATE: "schedule sessions in the organization",
    Action.SESSIONS_READ: "see the organization's sessions and their event logs",
    Action.SESSIONS_MANAGE: "change, cancel, delete, start, end and invite to any of them",
    Action.RECORDS_READ: "read their records (their notes only with notes.read)",
    Action.NOTES_READ: "read the panel's shared notes of any of them",
    Action.WEBHOOKS_MANAGE: "manage the webhook endpoints of the organization's sessions",
    Action.PROBLEMS_READ: "read the question bank (every version, hidden tests), export it",
    Action.PROBLEMS_MANAGE: "add, edit, delete, import and copy problems",
    Action.TEMPLATES_MANAGE: "add, edit and delete scorecard templates; set the default",
    Action.SSO_MANAGE: "set up single sign-on and SCIM provisioning tokens",
}

# A seat is a licence to run interviews: recruiters (scheduling, records) take none.
SEAT_ROLES: frozenset[OrgRole] = frozenset({"owner", "admin", "interviewer"})


def allows(role: OrgRole | None, action: Action) -> bool:
    return role is not None and role in TABLE[action]


# --- every operation of the API


@dataclass(frozen=True)
class Access:
    """`kind`: public (no token), account (any signed-in account: one's own things, the open
    lobby, links), session (a session's own people only: no organization role adds it), org
    (an organization's action, on the organization in the path or the session's organization)."""

    kind: Literal["public", "account", "session", "org"]
    action: Action | None = None


PUBLIC = Access("public")
ACCOUNT = Access("account")
SESSION = Access("session")


def org(action: Action) -> Access:
    return Access("org", action)


S = "/api/sessions/{session_id}"
O = "/api/orgs/{org_id}"  # noqa: E741 - reads as the path it is
E = "/api/webhooks/endpoints/{endpoint_id}"
OPERATIONS: dict[str, Access] = {
    "GET /api/health": PUBLIC,
    "GET /api/health/ready": PUBLIC,
    "GET /metrics": PUBLIC,
    "POST /api/auth/login": PUBLIC,
    "POST /api/auth/register": PUBLIC,
    "POST /api/webhooks/stream": PUBLIC,
    "GET /api/invitations/{token}": PUBLIC,
    "GET /api/auth/me": ACCOUNT,
    "PATCH /api/auth/me": ACCOUNT,
    "DELETE /api/auth/me": ACCOUNT,
    "POST /api/auth/logout": ACCOUNT,
    "POST /api/auth/stream-token": ACCOUNT,
    "GET /api/chat/token": SESSION,
    "POST /api/chat/save-message": SESSION,
    "POST /api/chat/channel": SESSION,
    "GET /api/chat/history/{session_id}": SESSION,
    "GET /api/v2/piston/runtimes": ACCOUNT,
    "POST /api/v2/piston/execute": ACCOUNT,
    "GET /api/v2/runtimes": ACCOUNT,
    "POST /api/v2/execute": ACCOUNT,
    "GET /api/problems": ACCOUNT,
    "GET /api/problems/{slug}": ACCOUNT,
    "POST /api/invitations/{token}/accept": ACCOUNT,
    "POST /api/org-invitations/{token}/accept": ACCOUNT,
    "GET /api/org-invitations/{token}": PUBLIC,
    # sessions: mine, the open lobby and joining are an account's; the organization's list
    # and any of its sessions are the organization's
    "GET /api/sessions/active": ACCOUNT,
    "GET /api/sessions/my-recent": ACCOUNT,
    "GET /api/sessions": ACCOUNT,
    "GET /api/sessions/user/{user_id}": ACCOUNT,
    # (created in the caller's personal organization)
    "POST /api/sessions": ACCOUNT,
    "POST /api/sessions/create": ACCOUNT,
    f"POST {O}/sessions": org(Action.SESSIONS_CREATE),
    f"GET {O}/sessions": org(Action.SESSIONS_READ),
    f"GET {S}": org(Action.SESSIONS_READ),
    f"PATCH {S}": org(Action.SESSIONS_MANAGE),
    f"PUT {S}": org(Action.SESSIONS_MANAGE),
    f"DELETE {S}": org(Action.SESSIONS_MANAGE),
    f"POST {S}/join": ACCOUNT,
    f"POST {S}/leave": SESSION,
    f"POST {S}/start": org(Action.SESSIONS_MANAGE),
    f"POST {S}/end": org(Action.SESSIONS_MANAGE),
    f"POST {S}/cancel": org(Action.SESSIONS_MANAGE),
    f"GET {S}/invitations": org(Action.SESSIONS_MANAGE),
    f"POST {S}/invitations": org(Action.SESSIONS_MANAGE),
    f"DELETE {S}/invitations/{{invitation_id}}": org(Action.SESSIONS_MANAGE),
    f"POST {S}/invitations/{{invitation_id}}/resend": org(Action.SESSIONS_MANAGE),
    f"GET {S}/problem": org(Action.SESSIONS_READ),
    f"GET {S}/calendar.ics": org(Action.SESSIONS_READ),
    f"GET {S}/events": org(Action.SESSIONS_READ),
    f"GET {S}/record": org(Action.RECORDS_READ),
    f"GET {S}/record.html": org(Action.RECORDS_READ),
    f"GET {S}/notes": org(Action.NOTES_READ),
    # taking part: the session's own people only
    f"POST {S}/notes": SESSION,
    f"PATCH {S}/notes/{{note_id}}": SESSION,
    f"DELETE {S}/notes/{{note_id}}": SESSION,
    f"GET {S}/scorecards": SESSION,
    f"GET {S}/scorecards/me": SESSION,
    f"PUT {S}/scorecards/me": SESSION,
    f"POST {S}/scorecards/me/submit": SESSION,
    f"GET {S}/code": SESSION,
    f"GET {S}/code/diff": SESSION,
    f"GET {S}/code/export": SESSION,
    f"GET {S}/code/timeline": SESSION,
    f"GET {S}/code/signals": SESSION,
    f"POST {S}/code/signals": SESSION,
    f"POST {S}/runs": SESSION,
    f"GET {S}/runs": SESSION,
    f"GET {S}/runs/{{run_id}}": SESSION,
    # webhook endpoints: created and listed in an organization (the personal one without
    # the path), each then the business of its organization's owners and admins
    "POST /api/webhooks/endpoints": ACCOUNT,
    "GET /api/webhooks/endpoints": ACCOUNT,
    f"POST {O}/webhooks/endpoints": org(Action.WEBHOOKS_MANAGE),
    f"GET {O}/webhooks/endpoints": org(Action.WEBHOOKS_MANAGE),
    f"GET {E}": org(Action.WEBHOOKS_MANAGE),
    f"PATCH {E}": org(Action.WEBHOOKS_MANAGE),
    f"DELETE {E}": org(Action.WEBHOOKS_MANAGE),
    f"POST {E}/rotate-secret": org(Action.WEBHOOKS_MANAGE),
    f"POST {E}/test": org(Action.WEBHOOKS_MANAGE),
    f"GET {E}/deliveries": org(Action.WEBHOOKS_MANAGE),
    f"GET {E}/deliveries/{{delivery_id}}": org(Action.WEBHOOKS_MANAGE),
    f"POST {E}/deliveries/{{delivery_id}}/replay": org(Action.WEBHOOKS_MANAGE),
    # organizations
    "POST /api/orgs": ACCOUNT,
    "GET /api/orgs": ACCOUNT,
    f"GET {O}": org(Action.ORG_READ),
    f"PATCH {O}": org(Action.ORG_UPDATE),
    f"DELETE {O}": org(Action.ORG_DELETE),
    f"POST {O}/transfer": org(Action.ORG_TRANSFER),
    f"GET {O}/members": org(Action.MEMBERS_READ),
    f"PATCH {O}/members/{{user_id}}": org(Action.MEMBERS_MANAGE),
    f"DELETE {O}/members/{{user_id}}": org(Action.MEMBERS_MANAGE),
    f"GET {O}/invitations": org(Action.MEMBERS_READ),
    f"POST {O}/invitations": org(Action.MEMBERS_MANAGE),
    f"DELETE {O}/invitations/{{invitation_id}}": org(Action.MEMBERS_MANAGE),
    f"GET {O}/audit": org(Action.AUDIT_READ),
    # the question bank
    f"GET {O}/problems": org(Action.PROBLEMS_READ),
    f"POST {O}/problems": org(Action.PROBLEMS_MANAGE),
    f"POST {O}/problems/copy": org(Action.PROBLEMS_MANAGE),
    f"POST {O}/problems/import": org(Action.PROBLEMS_MANAGE),
    f"GET {O}/problems/imports/{{import_id}}": org(Action.PROBLEMS_READ),
    f"GET {O}/problems/{{slug}}": org(Action.PROBLEMS_READ),
    f"PATCH {O}/problems/{{slug}}": org(Action.PROBLEMS_MANAGE),
    f"DELETE {O}/problems/{{slug}}": org(Action.PROBLEMS_MANAGE),
    f"GET {O}/problems/{{slug}}/versions": org(Action.PROBLEMS_READ),
    f"GET {O}/problems/{{slug}}/versions/{{version}}": org(Action.PROBLEMS_READ),
    f"GET {O}/problems/{{slug}}/export": org(Action.PROBLEMS_READ),
    # scorecard templates
    f"GET {O}/scorecard-templates": org(Action.ORG_READ),
    f"POST {O}/scorecard-templates": org(Action.TEMPLATES_MANAGE),
    f"PUT {O}/scorecard-templates/default": org(Action.TEMPLATES_MANAGE),
    f"GET {O}/scorecard-templates/{{slug}}": org(Action.ORG_READ),
    f"PATCH {O}/scorecard-templates/{{slug}}": org(Action.TEMPLATES_MANAGE),
    f"DELETE {O}/scorecard-templates/{{slug}}": org(Action.TEMPLATES_MANAGE),
    f"GET {O}/scorecard-templates/{{slug}}/versions": org(Action.ORG_READ),
    f"GET {O}/scorecard-templates/{{slug}}/versions/{{version}}": org(Action.ORG_READ),
    f"DELETE {O}/candidates": org(Action.CANDIDATES_DELETE),
    # single sign-on and SCIM (the /scim/v2 protocol itself takes a SCIM token, not a user's)
    f"GET {O}/sso": org(Action.SSO_MANAGE),
    f"PUT {O}/sso": org(Action.SSO_MANAGE),
    f"DELETE {O}/sso": org(Action.SSO_MANAGE),
    f"POST {O}/sso/domains/{{domain}}/verify": org(Action.SSO_MANAGE),
    f"GET {O}/scim/tokens": org(Action.SSO_MANAGE),
    f"POST {O}/scim/tokens": org(Action.SSO_MANAGE),
    f"DELETE {O}/scim/tokens/{{token_id}}": org(Action.SSO_MANAGE),
    "POST /api/auth/sso/discover": PUBLIC,
    "GET /api/auth/sso/{org_id}/login": PUBLIC,
    "GET /api/auth/sso/oidc/callback": PUBLIC,
    "POST /api/auth/sso/saml/{org_id}/acs": PUBLIC,
    "GET /api/auth/sso/saml/{org_id}/metadata": PUBLIC,
    "POST /api/auth/sso/exchange": PUBLIC,
    "POST /api/auth/sso/link": PUBLIC,
}


def markdown_table() -> str:
    """The README's table: one row per action, a column per role."""
    head = "| action | " + " | ".join(ORG_ROLES) + " |"
    rule = "|---|" + "|".join(":-:" for _ in ORG_ROLES) + "|"
    rows = [
        f"| {action.value}: {WHAT[action]} | "
        + " | ".join("yes" if role in roles else "" for role in ORG_ROLES)
        + " |"
        for action, roles in TABLE.items()
    ]
    seats = "| takes a seat | " + " | ".join(
        "yes" if role in SEAT_ROLES else "" for role in ORG_ROLES
    )
    return "\n".join([head, rule, *rows, seats + " |"])


if __name__ == "__main__":
    print(markdown_table())
