"""Cross-domain reactions, all in one place: which domain does what when another announces a
change. Domains publish events (tq/<domain>/events.py) and never import a domain above them;
the app and the workers wire these subscriptions into their event bus at start."""

from __future__ import annotations

from tq.auth.events import PasswordLoginVerified
from tq.chat.service import erase_candidate_chat, forget_session_chat
from tq.collab.history import erase_candidate_code, forget_session_code
from tq.core.clients import Clients
from tq.core.events import EventBus
from tq.core.time import Deadline
from tq.evaluation.service import (
    erase_candidate_mentions,
    flush_pending_events,
    forget_author,
    forget_session_evaluation,
)
from tq.integrations.service import adopt_into_org as adopt_endpoints
from tq.integrations.service import erase_candidate_deliveries, forget_org_endpoints
from tq.notifications.service import erase_candidate_emails, queue_org_invitation_email
from tq.orgs import audit as org_audit
from tq.orgs.events import (
    CandidateErasing,
    MemberLeaving,
    OrgDeleting,
    OrgInvitationIssued,
    PersonalOrgReady,
)
from tq.orgs.service import release_closing_account as release_org_seats
from tq.problems.service import forget_org_problems
from tq.runner.service import erase_candidate_runs, forget_session_runs
from tq.scim.service import forget_account as forget_scim_account
from tq.scim.service import forget_org_scim, refuse_deactivated
from tq.scorecard_templates.service import forget_org_templates
from tq.sessions.events import SessionDeleted
from tq.sessions.log import forget_actor, forget_session_events
from tq.sessions.service import (
    adopt_into_org,
    erase_candidate,
    hand_over,
    move_org_sessions,
    release_closing_account,
)
from tq.sso.events import SsoSigningIn
from tq.sso.service import forget_org_sso, refuse_enforced_password_login
from tq.users.events import AccountClosing


def subscribe_reactions(bus: EventBus, clients: Clients) -> None:
    async def release_seats(event: AccountClosing) -> None:
        await release_closing_account(clients, event.user_id)

    async def forget_chat(event: SessionDeleted) -> None:
        await forget_session_chat(clients.engine, event.session_id)

    async def forget_code(event: SessionDeleted) -> None:
        await forget_session_code(clients.engine, event.session_id)

    async def forget_runs(event: SessionDeleted) -> None:
        await forget_session_runs(clients.engine, event.session_id)

    async def anonymise_events(event: AccountClosing) -> None:
        # Events still waiting in documents are moved first, so none keeps the id after.
        await flush_pending_events(clients, Deadline(clients.settings.job_time_budget_s))
        await forget_actor(clients, event.user_id)

    async def forget_events(event: SessionDeleted) -> None:
        await forget_session_events(clients, event.session_id)

    async def forget_feedback(event: AccountClosing) -> None:
        await forget_author(clients, event.user_id)

    async def forget_evaluation(event: SessionDeleted) -> None:
        await forget_session_evaluation(clients, event.session_id)

    async def hand_over_sessions(event: MemberLeaving) -> None:
        await hand_over(clients, event.org_id, event.user_id, event.successor_id)

    async def keep_org_sessions(event: OrgDeleting) -> None:
        if event.successor_org_id is not None:
            await move_org_sessions(clients, event.org_id, event.successor_org_id)

    async def forget_endpoints(event: OrgDeleting) -> None:
        await forget_org_endpoints(clients.engine, event.org_id)

    async def forget_bank(event: OrgDeleting) -> None:
        await forget_org_problems(clients.engine, event.org_id)
        await forget_org_templates(clients.engine, event.org_id)

    async def forget_sso(event: OrgDeleting) -> None:
        await forget_org_sso(clients, event.org_id)

    async def forget_scim(event: OrgDeleting) -> None:
        await forget_org_scim(clients.engine, event.org_id)

    async def forget_scim_user(event: AccountClosing) -> None:
        await forget_scim_account(clients.engine, event.user_id)

    async def keep_deactivated_out(event: SsoSigningIn) -> None:
        await refuse_deactivated(clients, event.org_id, event.user_id)

    async def enforce_sso(event: PasswordLoginVerified) -> None:
        await refuse_enforced_password_login(clients, event.user_id, event.email)

    async def mail_org_invitation(event: OrgInvitationIssued) -> None:
        await queue_org_invitation_email(clients, event.org_id, event.invitation_id)

    async def anonymise_audit(event: AccountClosing) -> None:
        await org_audit.forget_actor(clients, event.user_id)

    async def leave_orgs(event: AccountClosing) -> None:
        await release_org_seats(clients, event.user_id)

    async def adopt_sessions(event: PersonalOrgReady) -> None:
        await adopt_into_org(clients, event.user_id, event.org_id)

    async def adopt_webhook_endpoints(event: PersonalOrgReady) -> None:
        await adopt_endpoints(clients.engine, event.user_id, event.org_id)

    async def erase_from_sessions(event: CandidateErasing) -> None:
        await erase_candidate(clients, event.org_id, event.erasure)

    async def erase_chat(event: CandidateErasing) -> None:
        await erase_candidate_chat(clients.engine, event.erasure)

    async def erase_runs(event: CandidateErasing) -> None:
        await erase_candidate_runs(clients.engine, event.erasure)

    async def erase_code(event: CandidateErasing) -> None:
        await erase_candidate_code(clients.engine, event.erasure)

    async def erase_mentions(event: CandidateErasing) -> None:
        await erase_candidate_mentions(clients, event.erasure)

    async def erase_emails(event: CandidateErasing) -> None:
        await erase_candidate_emails(clients, event.erasure)

    async def erase_payloads(event: CandidateErasing) -> None:
        await erase_candidate_deliveries(clients.engine, event.erasure)

    # The sessions first: they find which sessions the others clean.
    for erase in (
        erase_from_sessions,
        erase_chat,
        erase_runs,
        erase_code,
        erase_mentions,
        erase_emails,
        erase_payloads,
    ):
        bus.subscribe(CandidateErasing, erase)
    bus.subscribe(PersonalOrgReady, adopt_sessions)
    bus.subscribe(PersonalOrgReady, adopt_webhook_endpoints)
    # First: it may refuse (an owner of a team), and then nothing else has happened yet.
    bus.subscribe(AccountClosing, leave_orgs)
    bus.subscribe(MemberLeaving, hand_over_sessions)
    bus.subscribe(OrgDeleting, keep_org_sessions)
    bus.subscribe(OrgDeleting, forget_endpoints)
    bus.subscribe(OrgDeleting, forget_bank)
    bus.subscribe(OrgDeleting, forget_sso)
    bus.subscribe(OrgDeleting, forget_scim)
    bus.subscribe(AccountClosing, forget_scim_user)
    bus.subscribe(PasswordLoginVerified, enforce_sso)
    bus.subscribe(SsoSigningIn, keep_deactivated_out)
    bus.subscribe(OrgInvitationIssued, mail_org_invitation)
    bus.subscribe(AccountClosing, anonymise_audit)
    bus.subscribe(AccountClosing, release_seats)
    bus.subscribe(AccountClosing, forget_feedback)
    bus.subscribe(SessionDeleted, forget_evaluation)
    bus.subscribe(AccountClosing, anonymise_events)
    bus.subscribe(SessionDeleted, forget_events)
    bus.subscribe(SessionDeleted, forget_chat)
    bus.subscribe(SessionDeleted, forget_runs)
    bus.subscribe(SessionDeleted, forget_code)
