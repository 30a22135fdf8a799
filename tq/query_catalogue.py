"""Every query the code sends, by shape, next to the indexes the models declare.

A shape is what an index must serve: the fields compared for equality (an `$in` or `$all`
counts: MongoDB merges the sorted runs), the sort (with the `_id` tie-break of a page), and
the range fields. `tests/unit/test_query_catalogue.py` checks each against the model's indexes
with the equality-sort-range rule, and `tests/core/test_query_shapes.py` checks that every
query a walk through the API and the jobs sends is catalogued here. With TEST_MONGODB_URL
pointing at a real MongoDB, the same test asks `explain()` for an IXSCAN and no in-memory SORT.

`residual` fields are filtered after the index, on purpose (optional filters a user may add,
or conditions that narrow a single document already found by `_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tq.chat.models import ChatArchiveChunk, ChatMessage, StreamEvent
from tq.collab.models import ClientSignal, CodeHistoryBlock, CodeSnapshot, CodeUpdate
from tq.core.queue import JobRun, OutboxJob
from tq.evaluation.models import Note, Scorecard
from tq.integrations.models import WebhookDelivery, WebhookEndpoint
from tq.notifications.models import Email
from tq.orgs.models import AuditRecord, Organization, OrgMigration
from tq.problems.models import Problem, ProblemImport, ProblemVersion
from tq.runner.models import CodeRun
from tq.scim.models import ScimGroup, ScimToken, ScimUser
from tq.scorecard_templates.models import ScorecardTemplate, TemplateVersion
from tq.sessions.models import Session, SessionEventRecord
from tq.sso.models import SsoConnection, SsoDomain
from tq.users.models import User

ASC, DESC = 1, -1


@dataclass(frozen=True)
class QueryShape:
    model: Any  # an ODMantic model class
    name: str
    where: str
    equality: tuple[str, ...] = ()
    sort: tuple[tuple[str, int], ...] = ()
    range: tuple[str, ...] = ()
    residual: tuple[str, ...] = ()

    @property
    def collection(self) -> str:
        return str(self.model.model_config["collection"])


def by_id(model: Any, where: str) -> QueryShape:
    """Reads and conditional writes of one document by `_id` (other conditions are checked on
    that one document)."""
    return QueryShape(model, "by _id", where, equality=("_id",))


NEWEST = (("createdAt", DESC), ("_id", DESC))
OLDEST = (("createdAt", ASC), ("_id", ASC))
BY_START = (("startTime", ASC), ("_id", ASC))
# Optional list filters a user may add; applied to the index-served range.
LIST_FILTERS = ("difficulty", "language", "title", "startTime", "seatsLeft")

CATALOGUE: tuple[QueryShape, ...] = (
    # --- users
    by_id(User, "users.service.get_user, get_users ($in), push_user"),
    QueryShape(User, "by email", "auth.service.login", equality=("email",)),
    QueryShape(User, "by Stream id", "chat.store.upsert_stream_message", equality=("streamId",)),
    QueryShape(
        User,
        "pending Stream syncs",
        "core.queue.requeue_pending_syncs",
        equality=("streamSync",),
        range=("updatedAt",),
    ),
    # --- sessions
    by_id(Session, "sessions.store (find, load, load_fields, update, mark_*, flush_events)"),
    QueryShape(
        Session,
        "my sessions, newest",
        "sessions.queries.list_sessions, sessions_of_user (members $all)",
        equality=("members",),
        sort=NEWEST,
        residual=LIST_FILTERS,
    ),
    QueryShape(
        Session,
        "my sessions by status, newest",
        "sessions.queries.list_sessions, recent_sessions",
        equality=("members", "status"),
        sort=NEWEST,
        residual=LIST_FILTERS,
    ),
    QueryShape(
        Session,
        "my sessions by start",
        "sessions.queries.list_sessions sort=startTime",
        equality=("members",),
        sort=BY_START,
        residual=LIST_FILTERS,
    ),
    QueryShape(
        Session,
        "my sessions by status and start",
        "sessions.queries.list_sessions status=…&sort=startTime",
        equality=("members", "status"),
        sort=BY_START,
        residual=LIST_FILTERS,
    ),
    QueryShape(
        Session,
        "open or active sessions, newest",
        "sessions.queries.active_sessions, list_sessions scope=open (open visibility only)",
        equality=("visibility", "status"),
        sort=NEWEST,
        residual=(*LIST_FILTERS, "members"),
    ),
    QueryShape(
        Session,
        "open sessions by start",
        "sessions.queries.list_sessions scope=open&sort=startTime",
        equality=("visibility", "status"),
        sort=BY_START,
        residual=(*LIST_FILTERS, "members"),
    ),
    QueryShape(
        Session,
        "sessions written before visibility existed",
        "sessions.store.backfill_fields (start-up)",
        equality=("visibility",),
    ),
    QueryShape(
        Session,
        "scheduled sessions to remind, by start",
        "sessions.store.reminders_due (notifications.service.remind_due)",
        equality=("status", "remindedAt"),
        range=("startTime",),
    ),
    QueryShape(
        Session,
        "the session of an invitation link",
        "sessions.store.find_by_invite_token",
        equality=("inviteTokens",),
    ),
    QueryShape(
        Session,
        "sessions past their start",
        "sessions.store.close_overdue (each $or branch, and the updates)",
        equality=("status",),
        range=("startTime",),
        residual=("participants.0", "duration", "_id"),
    ),
    QueryShape(
        Session,
        "a leaving account's hosted open sessions",
        "sessions.store.hosted_open, ids_with_member_in",
        equality=("createdBy", "status"),
    ),
    QueryShape(
        Session,
        "a leaving account's seats and panel places",
        "sessions.store.hosted_open, ids_with_member_in",
        equality=("members",),
        residual=("participants", "interviewers"),
    ),
    QueryShape(
        Session,
        "final sessions to archive, oldest ending first",
        "sessions.store.finished_unarchived (chat.archive)",
        equality=("status", "archivedAt"),
        sort=(("endTime", ASC), ("_id", ASC)),
        range=("endTime",),
    ),
    QueryShape(
        Session,
        "by Stream channel",
        "sessions.store.find_by_channel (chat.store.apply_event)",
        equality=("streamChannelId",),
    ),
    QueryShape(
        Session,
        "pending Stream syncs",
        "sessions.store.out_of_step_ids",
        equality=("streamSync",),
        range=("updatedAt",),
    ),
    # --- chat
    by_id(ChatMessage, "chat.service (the catch-up anchor), chat.archive (deletes)"),
    QueryShape(ChatMessage, "by Stream message id", "chat.store, chat.service", equality=("key",)),
    QueryShape(
        ChatMessage,
        "a session's page, newest first",
        "chat.service.history",
        equality=("sessionId",),
        sort=NEWEST,
        range=("createdAt", "_id"),
    ),
    QueryShape(
        ChatMessage,
        "a session's messages, oldest first",
        "chat.service._history_after, chat.archive.archive_session",
        equality=("sessionId",),
        sort=OLDEST,
        range=("createdAt", "_id"),
    ),
    by_id(ChatArchiveChunk, "chat.archive.store_chunk (ODMantic's save)"),
    QueryShape(
        ChatArchiveChunk,
        "a session's chunks by seq",
        "chat.store.last_chunk, chunks_before, chunks_after",
        equality=("sessionId",),
        sort=(("seq", DESC),),
        residual=("firstCreatedAt", "firstId", "lastCreatedAt", "lastId"),
    ),
    QueryShape(
        ChatArchiveChunk,
        "the chunk holding a message",
        "chat.store.find_archived",
        equality=("sessionId", "messageIds"),
    ),
    by_id(StreamEvent, "chat.store.process_event (ODMantic's save)"),
    QueryShape(
        StreamEvent, "by delivery key", "chat.store.process_stored_event", equality=("key",)
    ),
    QueryShape(
        StreamEvent,
        "applied deliveries by age",
        "chat.store.purge_applied_events",
        range=("processedAt",),
    ),
    QueryShape(
        Session,
        "sessions with events still in the document",
        "sessions.store.with_pending_events (evaluation.service.flush_pending_events)",
        equality=("eventsPending",),
    ),
    QueryShape(
        Session,
        "completed sessions whose record was not announced",
        "sessions.store.records_to_announce (evaluation.service.announce_records)",
        equality=("status", "recordReadyAt"),
    ),
    # --- the event log
    by_id(SessionEventRecord, "sessions.log.move_events_to_log (inserts by key)"),
    QueryShape(
        SessionEventRecord,
        "a session's log, oldest first",
        "sessions.log.read_events (cursor: at, then key)",
        equality=("sessionId",),
        sort=(("at", ASC), ("_id", ASC)),
        range=("at", "_id"),
    ),
    QueryShape(
        SessionEventRecord,
        "entries not turned into webhooks yet, oldest first",
        "integrations.service.pump",
        equality=("dispatched",),
        sort=(("at", ASC),),
    ),
    QueryShape(
        SessionEventRecord,
        "a deleted account's entries",
        "sessions.log.forget_actor",
        equality=("actorId",),
    ),
    # --- notes and scorecards
    by_id(Note, "evaluation.service (one note), sessions.log.move_events_to_log"),
    QueryShape(
        Note,
        "a session's notes the viewer may see, oldest first",
        "evaluation.service.list_notes, record_of",
        equality=("sessionId",),
        sort=OLDEST,
        range=("_id",),
        residual=("visibility", "authorId"),
    ),
    QueryShape(
        Note,
        "a deleted account's notes",
        "evaluation.service.forget_author",
        equality=("authorId",),
    ),
    QueryShape(
        Note,
        "notes with events to move",
        "evaluation.service.flush_pending_events",
        equality=("eventsPending",),
    ),
    by_id(Scorecard, "evaluation.service (one's own scorecard), sessions.log.move_events_to_log"),
    QueryShape(
        Scorecard,
        "a session's submitted scorecards",
        "evaluation.service.submitted_scorecards",
        equality=("sessionId", "status"),
        sort=(("submittedAt", ASC),),
    ),
    QueryShape(
        Scorecard,
        "a deleted session's scorecards",
        "evaluation.service.forget_session_evaluation",
        equality=("sessionId",),
    ),
    QueryShape(
        Scorecard,
        "a deleted account's scorecards",
        "evaluation.service.forget_author",
        equality=("authorId",),
        residual=("status",),
    ),
    QueryShape(
        Scorecard,
        "scorecards with events to move",
        "evaluation.service.flush_pending_events",
        equality=("eventsPending",),
    ),
    # --- organizations
    by_id(Organization, "orgs.store (find, member_roles, update, upsert_personal, delete)"),
    QueryShape(
        Organization,
        "my organizations, newest",
        "orgs.store.of_member (GET /api/orgs, create's count, account deletion)",
        equality=("memberIds",),
        sort=NEWEST,
    ),
    QueryShape(
        Organization,
        "the organization of an invitation link",
        "orgs.store.by_invite_token",
        equality=("inviteTokens",),
    ),
    by_id(OrgMigration, "orgs.store.migration_state, save_migration_state"),
    by_id(AuditRecord, "orgs.audit (insert_new of moved entries)"),
    QueryShape(
        AuditRecord,
        "an organization's audit log, newest",
        "orgs.audit.read_page, forget_org_audit",
        equality=("orgId",),
        sort=(("at", DESC), ("_id", DESC)),
        range=("at",),
    ),
    QueryShape(
        AuditRecord,
        "an organization's audit log by actor, newest",
        "orgs.audit.read_page actor=…",
        equality=("orgId", "actorId"),
        sort=(("at", DESC), ("_id", DESC)),
        range=("at",),
        residual=("type",),
    ),
    QueryShape(
        AuditRecord,
        "an organization's audit log by type, newest",
        "orgs.audit.read_page type=…",
        equality=("orgId", "type"),
        sort=(("at", DESC), ("_id", DESC)),
        range=("at",),
    ),
    QueryShape(
        AuditRecord, "an account's entries", "orgs.audit.forget_actor", equality=("actorId",)
    ),
    QueryShape(
        AuditRecord,
        "entries not dispatched yet, oldest first",
        "integrations.service.pump (audit.entry deliveries)",
        equality=("dispatched",),
        sort=(("at", ASC),),
    ),
    QueryShape(
        Organization,
        "organizations with audit entries waiting in the document",
        "orgs.audit.flush_waiting (the webhook pump)",
        equality=("auditPending",),
    ),
    # the question bank and scorecard templates (a head per slug, versions written once)
    QueryShape(
        Problem,
        "a problem of an organization",
        "core.versions.Versioned (find_entry, move_entry, remove) for problems.service.BANK",
        equality=("orgId", "slug"),
        residual=("version",),
    ),
    QueryShape(
        Problem,
        "an organization's bank by slug",
        "core.versions.Versioned.page (problems.service.list_bank), forget_org",
        equality=("orgId",),
        sort=(("slug", ASC),),
        range=("slug",),
    ),
    by_id(ProblemVersion, "problems.service.pinned_version (a session's pin, a run's judging)"),
    QueryShape(
        ProblemVersion,
        "a problem's versions, newest first",
        "core.versions.Versioned (find_version, history) for problems.service.BANK",
        equality=("orgId", "slug"),
        sort=(("version", DESC),),
    ),
    QueryShape(
        ProblemVersion,
        "the version an import wrote",
        "problems.service.finish_import (a retried proof writes once)",
        equality=("importId",),
    ),
    by_id(ProblemImport, "problems.service (import_of, claim_import, finish_import)"),
    QueryShape(
        ProblemImport,
        "an organization's imports being proven",
        "problems.service.start_import (PACKAGE_MAX_PENDING_IMPORTS, recent ones), "
        "forget_org_problems",
        equality=("orgId",),
        range=("_id",),
        residual=("status",),
    ),
    QueryShape(
        ProblemImport,
        "an account's imports being proven",
        "problems.service.start_import (PACKAGE_MAX_PENDING_IMPORTS per account)",
        equality=("createdBy",),
        range=("_id",),
        residual=("status",),
    ),
    QueryShape(
        ScorecardTemplate,
        "a template of an organization",
        "core.versions.Versioned (find_entry, move_entry, remove) for TEMPLATES",
        equality=("orgId", "slug"),
        residual=("version",),
    ),
    QueryShape(
        ScorecardTemplate,
        "an organization's templates by slug",
        "core.versions.Versioned.page (scorecard_templates.service.list_templates)",
        equality=("orgId",),
        sort=(("slug", ASC),),
        range=("slug",),
    ),
    by_id(TemplateVersion, "scorecard_templates.service.pinned (a session's rubric)"),
    QueryShape(
        TemplateVersion,
        "a template's versions, newest first",
        "core.versions.Versioned (find_version, history) for TEMPLATES",
        equality=("orgId", "slug"),
        sort=(("version", DESC),),
    ),
    QueryShape(
        Session,
        "an organization's sessions, newest",
        "sessions.queries.org_sessions, sessions.store.move_to_org",
        equality=("orgId",),
        sort=NEWEST,
        residual=(*LIST_FILTERS, "status"),
    ),
    QueryShape(
        Session,
        "an organization's sessions by start",
        "sessions.queries.org_sessions sort=startTime",
        equality=("orgId",),
        sort=BY_START,
        residual=(*LIST_FILTERS, "status"),
    ),
    QueryShape(
        Session,
        "a member's sessions of an organization",
        "sessions.store.hosted_in_org (hand-over)",
        equality=("orgId", "createdBy"),
    ),
    QueryShape(
        Session,
        "an organization's sessions with someone on the panel",
        "sessions.store.on_panels_in_org (hand-over)",
        equality=("orgId",),
        residual=("interviewers",),
    ),
    QueryShape(
        SessionEventRecord,
        "the log entries of an account",
        "sessions.log.sessions_naming (a candidate's erasure), forget_actor",
        equality=("actorId",),
    ),
    QueryShape(
        Session,
        "a host's sessions of no organization yet",
        "sessions.store.adopt_into_org (the migration)",
        equality=("createdBy",),
        residual=("orgId",),
    ),
    # --- a candidate's erasure (tq.orgs.service.erase_candidate and its reactions)
    QueryShape(
        Session,
        "an organization's sessions with a candidate",
        "sessions.store.with_candidate ($or: participants, invitations.email)",
        equality=("orgId",),
        residual=("participants", "invitations.email"),
    ),
    QueryShape(
        Session,
        "some sessions of an organization",
        "sessions.store.with_candidate ($or: _id $in, the sessions whose log names them)",
        equality=("_id",),
        residual=("orgId",),
    ),
    QueryShape(
        ChatMessage,
        "some sessions' messages by one author or mentioning someone",
        "chat.service.erase_candidate_chat (sessionId $in)",
        equality=("sessionId",),
        residual=("userId", "text"),
    ),
    QueryShape(
        ChatArchiveChunk,
        "some sessions' archived chunks",
        "chat.store.erase_in_archive (sessionId $in)",
        equality=("sessionId",),
    ),
    QueryShape(
        CodeRun,
        "some sessions' runs by one author",
        "runner.service.erase_candidate_runs (sessionId $in)",
        equality=("sessionId",),
        residual=("userId",),
    ),
    QueryShape(
        Note,
        "some sessions' notes mentioning someone",
        "evaluation.service.erase_candidate_mentions (sessionId $in)",
        equality=("sessionId",),
        residual=("body",),
    ),
    QueryShape(
        Scorecard,
        "some sessions' scorecards mentioning someone",
        "evaluation.service.erase_candidate_mentions (sessionId $in)",
        equality=("sessionId",),
        residual=("summary",),
    ),
    QueryShape(
        SessionEventRecord,
        "some sessions' log entries naming an account",
        "sessions.log.anonymise_in_log (sessionId $in)",
        equality=("sessionId",),
        residual=("actorId", "data.userId"),
    ),
    QueryShape(
        StreamEvent,
        "a channel's stored Stream events",
        "chat.service.erase_candidate_chat ($in)",
        equality=("channelId",),
    ),
    QueryShape(
        Email,
        "a session's emails to one address",
        "notifications.service.erase_candidate_emails (sessionId $in)",
        equality=("sessionId", "to"),
    ),
    QueryShape(
        WebhookDelivery,
        "the deliveries of some endpoints about some sessions",
        "integrations.service.erase_candidate_deliveries (endpointId $in)",
        equality=("endpointId",),
        residual=("payload",),
    ),
    QueryShape(
        WebhookEndpoint,
        "an owner's endpoints of no organization yet",
        "integrations.service.adopt_into_org (the migration)",
        equality=("ownerId",),
        residual=("orgId",),
    ),
    # --- outbound webhooks
    by_id(WebhookEndpoint, "integrations.service (one endpoint), integrations.delivery"),
    QueryShape(
        WebhookEndpoint,
        "an owner's endpoints, newest first",
        "integrations.service.list_endpoints (after: an _id range), create (count); the "
        "dispatcher's enabled endpoints of a host subscribed to a type",
        equality=("ownerId",),
        sort=(("createdAt", DESC), ("_id", DESC)),
        range=("_id",),
        residual=("enabled", "events"),
    ),
    QueryShape(
        WebhookEndpoint,
        "an organization's endpoints, newest first",
        "integrations.service.list_endpoints (an org's), create (count); the dispatcher's "
        "endpoints of a session's organization subscribed to a type ($or with the host's "
        "not migrated); a candidate's erasure ($in)",
        equality=("orgId",),
        sort=(("createdAt", DESC), ("_id", DESC)),
        range=("_id",),
        residual=("enabled", "events", "ownerId"),
    ),
    QueryShape(
        WebhookEndpoint,
        "an account's endpoints of its personal organization or none",
        "integrations.service.list_endpoints (personal), the dispatcher's legacy branch",
        equality=("ownerId",),
        sort=(("createdAt", DESC), ("_id", DESC)),
        range=("_id",),
        residual=("orgId", "enabled", "events"),
    ),
    by_id(WebhookDelivery, "integrations (one delivery, its claim and outcome)"),
    QueryShape(
        WebhookDelivery,
        "an endpoint's delivery log, newest first",
        "integrations.service.list_deliveries, delete_endpoint",
        equality=("endpointId",),
        sort=(("createdAt", DESC), ("_id", DESC)),
        range=("createdAt", "_id"),
    ),
    QueryShape(
        WebhookDelivery,
        "deliveries due",
        "integrations.service.pump",
        equality=("status",),
        range=("nextAttemptAt",),
    ),
    # --- emails
    by_id(Email, "notifications (queue_emails inserts, send_email's claim and marks)"),
    QueryShape(
        Email,
        "emails left queued, by age",
        "sessions.store.reminders_due (notifications.service.remind_due)",
        equality=("status",),
        range=("createdAt",),
    ),
    # --- code runs
    by_id(CodeRun, "runner.service.get_run, runner.execution (conditional updates)"),
    QueryShape(
        CodeRun,
        "runs with events to move",
        "evaluation.service.flush_pending_events",
        equality=("eventsPending",),
    ),
    QueryShape(
        CodeRun,
        "a session's runs, newest first",
        "runner.service.list_runs (before: an _id range), previous_run",
        equality=("sessionId",),
        sort=(("_id", DESC),),
        range=("_id",),
    ),
    QueryShape(
        CodeRun,
        "unfinished runs by age",
        "runner.service.fail_runs_older_than",
        equality=("status",),
        sort=(("createdAt", ASC),),
        range=("createdAt",),
    ),
    # --- the shared editor
    QueryShape(
        CodeUpdate,
        "a session's document log, in order",
        "collab.service.read_log (after a snapshot: an _id range), Rooms._catch_up, collab.history",
        equality=("sessionId",),
        sort=(("_id", ASC),),
        range=("_id",),
    ),
    QueryShape(
        ClientSignal,
        "a session's client-reported signals, in order (and their count)",
        "collab.history.report, client_signals",
        equality=("sessionId",),
        sort=(("_id", ASC),),
    ),
    QueryShape(
        CodeSnapshot,
        "a session's snapshot",
        "collab.service.read_log, compact (and upTo: the one it read)",
        equality=("sessionId",),
        residual=("upTo",),
    ),
    QueryShape(
        CodeHistoryBlock,
        "a session's history blocks, in order (or the last, or the last begun by a time)",
        "collab.history.steps, index_history, state_at",
        equality=("sessionId",),
        sort=(("index", ASC),),
        residual=("firstAt",),
    ),
    QueryShape(
        CodeHistoryBlock,
        "one history block, or the blocks between a base and it",
        "collab.history.state_at, _rebuild",
        equality=("sessionId",),
        range=("index",),
    ),
    QueryShape(
        CodeSnapshot,
        "a deleted session's code (also its log, history blocks and client signals)",
        "collab.history.forget_session_code",
        equality=("sessionId",),
    ),
    # --- jobs
    by_id(JobRun, "jobs.service.record_start, record_end, get_run"),
    QueryShape(
        JobRun,
        "a job's runs, newest",
        "jobs.service.list_runs job=…",
        equality=("job",),
        sort=(("queuedAt", DESC),),
        residual=("_id", "status"),
    ),
    QueryShape(
        JobRun,
        "failed runs, newest",
        "jobs.service.list_runs --failed",
        equality=("status",),
        sort=(("queuedAt", DESC),),
        residual=("_id",),
    ),
    QueryShape(
        JobRun,
        "all runs, newest",
        "jobs.service.list_runs",
        sort=(("queuedAt", DESC),),
        residual=("_id",),
    ),
    QueryShape(
        JobRun,
        "finished runs by age",
        "jobs.service.purge_finished_runs",
        equality=("status",),
        range=("finishedAt",),
    ),
    by_id(OutboxJob, "core.queue.flush_outbox (deletes and saves)"),
    QueryShape(OutboxJob, "oldest first", "core.queue.flush_outbox", sort=(("createdAt", ASC),)),
    # single sign-on (tq.sso)
    by_id(SsoConnection, "sso.service (connection_of, configure: conditional on version)"),
    by_id(SsoDomain, "sso.service (provider_for_email: discovery, enforcement; the claim)"),
    QueryShape(
        SsoDomain,
        "an organization's claimed domains",
        "sso.service._release_domains",
        equality=("orgId",),
        residual=("_id",),
    ),
    # SCIM (tq.scim)
    by_id(ScimToken, "scim.service.revoke_token"),
    QueryShape(ScimToken, "by hash", "scim.service.authenticate", equality=("tokenHash",)),
    QueryShape(
        ScimToken,
        "an organization's tokens",
        "scim.service (create_token: SCIM_MAX_TOKENS, list_tokens), forget_org_scim",
        equality=("orgId",),
        sort=(("createdAt", ASC),),
    ),
    by_id(ScimUser, "scim.service (_load_user, _apply_user on version, _sync_roles by $in)"),
    QueryShape(
        ScimUser,
        "an organization's Users, in id order",
        "scim.service.list_resources (startIndex paging), forget_org_scim",
        equality=("orgId",),
        sort=(("_id", ASC),),
    ),
    QueryShape(
        ScimUser,
        "a User by userName",
        "scim.service (create_user, _apply_user: uniqueness; filter userName eq)",
        equality=("orgId", "userName"),
    ),
    QueryShape(
        ScimUser,
        "Users by externalId",
        "scim.service.list_resources (filter externalId eq)",
        equality=("orgId", "externalId"),
        sort=(("_id", ASC),),
    ),
    QueryShape(ScimUser, "an account's Users", "scim.service.forget_account", equality=("userId",)),
    QueryShape(
        ScimUser,
        "an account's User in an organization",
        "scim.service.refuse_deactivated (a single sign-on login)",
        equality=("orgId", "userId"),
        residual=("active",),
    ),
    by_id(ScimGroup, "scim.service (_load_group, _apply_group on version)"),
    QueryShape(
        ScimGroup,
        "an organization's Groups, in id order",
        "scim.service (list_resources, create_group: SCIM_MAX_GROUPS), forget_org_scim",
        equality=("orgId",),
        sort=(("_id", ASC),),
    ),
    QueryShape(
        ScimGroup,
        "a Group by name",
        "scim.service (list_resources: filter displayName eq; _check_group_name)",
        equality=("orgId", "nameKey"),
        residual=("_id",),
    ),
    QueryShape(
        ScimGroup,
        "the Groups a User is in",
        "scim.service (_role_for, _leave_groups)",
        equality=("orgId", "memberIds"),
    ),
)


def index_keys(model: Any) -> list[list[tuple[str, int]]]:
    """The key patterns of a model's indexes, `_id` included."""
    keys = [[("_id", ASC)]]
    for index in model.__indexes__():
        model_index = index.get_pymongo_index() if hasattr(index, "get_pymongo_index") else index
        document = model_index.document
        keys.append([(field, int(direction)) for field, direction in document["key"].items()])
    return keys


def serves(shape: QueryShape, key: list[tuple[str, int]]) -> bool:
    """The equality-sort-range rule: the equality fields first (any order), then the sort in
    order (all in the index's direction, or all reversed), then the range fields; a range
    field may also be a sort field (the sort's range then serves it)."""
    fields = [field for field, _ in key]
    n_eq = len(shape.equality)
    if set(fields[:n_eq]) != set(shape.equality):
        return False
    rest = key[n_eq:]
    if shape.sort:
        if len(rest) < len(shape.sort):
            return False
        head = rest[: len(shape.sort)]
        if [f for f, _ in head] != [f for f, _ in shape.sort]:
            return False
        same = all(d == s for (_, d), (_, s) in zip(head, shape.sort, strict=True))
        reverse = all(d == -s for (_, d), (_, s) in zip(head, shape.sort, strict=True))
        if not (same or reverse):
            return False
        rest = rest[len(shape.sort) :]
    sorted_fields = {f for f, _ in shape.sort}
    ranges = {f for f in shape.range if f not in sorted_fields}
    return {f for f, _ in rest[: len(ranges)]} == ranges


def serving_index(shape: QueryShape) -> list[tuple[str, int]] | None:
    for key in index_keys(shape.model):
        if serves(shape, key):
            return key
    return None
