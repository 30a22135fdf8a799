"""Interview feedback: private and panel notes, blind scorecards, the session's event log and
the one post-interview record. Only the host and the interviewers reach any of it; for a
candidate (or anyone else) every route is 404, so they cannot even learn that notes exist."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from config import Settings
from tq.chat.schemas import HistoryQuery
from tq.chat.service import history
from tq.chat.store import import_from_stream
from tq.collab.history import (
    Signal,
    Step,
    client_signals,
    detect,
    diff_text,
    frame_edits,
    group,
    rules_of,
    session_signals,
    state_at,
    steps,
)
from tq.collab.models import ClientSignal
from tq.core.clients import Clients
from tq.core.db import Document, keyset_page, parse_object_id, update_owned
from tq.core.erasure import Erasure
from tq.core.errors import BadRequest, Conflict, Forbidden, NotFound
from tq.core.time import Deadline, utcnow
from tq.evaluation.models import RECOMMENDATIONS, Note, Scorecard, scorecard_key
from tq.evaluation.results import CodeHistory, RunCode, TimelineSlice
from tq.evaluation.schemas import (
    CriterionSummary,
    NoteIn,
    NotesQuery,
    NoteUpdateIn,
    RecommendationTally,
    ScorecardIn,
    ScoreSummary,
)
from tq.orgs.audit import record_view
from tq.orgs.permissions import Action, allows
from tq.orgs.service import role_in
from tq.runner.models import CodeRun
from tq.runner.schemas import ListRunsQuery
from tq.runner.service import list_runs
from tq.sessions import store
from tq.sessions.log import move_events_to_log, read_events, session_event
from tq.sessions.models import Session, SessionEventRecord
from tq.sessions.queries import panel_role, panel_session
from tq.users.models import User

# Bounds of one record: far above a real interview, and they keep the page's size finite.
RECORD_MAX_MESSAGES = 20_000
RECORD_MAX_RUNS = 1_000
RECORD_MAX_EVENTS = 5_000
RECORD_MAX_NOTES = 2_000


def _notes(engine: AIOEngine) -> Any:
    return engine.get_collection(Note)


def _cards(engine: AIOEngine) -> Any:
    return engine.get_collection(Scorecard)


# --- notes


def visible_notes_filter(session: Session, viewer: User) -> dict[str, Any]:
    return {
        "sessionId": session.id,
        "$or": [{"visibility": "panel"}, {"authorId": viewer.id}],
    }


async def create_note(
    clients: Clients, session_id: str, author: User, data: NoteIn
) -> tuple[Session, Note]:
    session = await panel_session(clients.engine, session_id, author)
    now = utcnow()
    note = Note(
        session_id=session.id,
        author_id=author.id,
        body=data.body,
        visibility=data.visibility,
        at=data.at,
        created_at=now,
        updated_at=now,
    )
    # The event (id and visibility only, never the body) is inserted with the note.
    note.outbox_events = [
        session_event("note.created", author.id, noteId=str(note.id), visibility=note.visibility)
    ]
    note.events_pending = True
    await _notes(clients.engine).insert_one(note.model_dump_doc())
    await move_events_to_log(
        clients, Note, note.id, session.id, note.outbox_events, f"note:{note.id}"
    )
    note.outbox_events, note.events_pending = [], False
    return session, note


async def list_notes(
    clients: Clients, session_id: str, viewer: User, query: NotesQuery
) -> tuple[Session, list[Note], str | None]:
    session = await panel_session(clients.engine, session_id, viewer, Action.NOTES_READ)
    # ObjectIds grow with creation time: the page after a note is the ids above it.
    after = [ObjectId(query.after)] if query.after else None
    notes, more = await keyset_page(
        _notes(clients.engine),
        Note,
        visible_notes_filter(session, viewer),
        [("createdAt", 1), ("_id", 1)],
        after,
        query.limit,
    )
    return session, notes, str(notes[-1].id) if more and notes else None


async def _own_note(
    clients: Clients, session_id: str, user: User, note_id: str
) -> tuple[Session, Note]:
    session = await panel_session(clients.engine, session_id, user)
    oid = parse_object_id(note_id)
    doc = (
        await _notes(clients.engine).find_one({"_id": oid, "sessionId": session.id})
        if oid
        else None
    )
    if doc is None:
        raise NotFound("Note not found", code="note_not_found")
    note = Note.model_validate_doc(doc)
    if note.author_id != user.id:
        if note.visibility == "private":
            raise NotFound("Note not found", code="note_not_found")
        raise Forbidden("Only its author may change a note", code="not_author")
    return session, note


async def update_note(
    clients: Clients, session_id: str, user: User, note_id: str, data: NoteUpdateIn
) -> tuple[Session, Note]:
    session, note = await _own_note(clients, session_id, user, note_id)
    fields: dict[str, Any] = {
        name: getattr(data, name)
        for name in data.model_fields_set
        if name in ("body", "visibility", "at")
    }
    fields["updatedAt"] = utcnow()
    async with clients.locks.hold(f"note:{note.id}"):
        doc = await update_owned(
            _notes(clients.engine),
            {"_id": note.id, "authorId": user.id},
            {"$set": fields},
            NotFound("Note not found", code="note_not_found"),
        )
    return session, Note.model_validate_doc(doc)


async def delete_note(clients: Clients, session_id: str, user: User, note_id: str) -> None:
    _, note = await _own_note(clients, session_id, user, note_id)
    await _notes(clients.engine).delete_one({"_id": note.id, "authorId": user.id})


# --- scorecards


async def my_scorecard(
    clients: Clients, session_id: str, user: User
) -> tuple[Session, Scorecard | None]:
    session = await panel_session(clients.engine, session_id, user)
    doc = await _cards(clients.engine).find_one({"_id": scorecard_key(session.id, user.id)})
    return session, Scorecard.model_validate_doc(doc) if doc else None


def _check_ratings(session: Session, ratings: dict[str, int]) -> None:
    unknown = sorted(set(ratings) - set(session.criteria))
    if unknown:
        raise BadRequest(
            f"Not criteria of this session: {', '.join(unknown)}",
            code="unknown_criteria",
            details=[{"field": "ratings", "problem": f"criteria are {session.criteria}"}],
        )


async def save_draft(
    clients: Clients, session_id: str, user: User, data: ScorecardIn
) -> tuple[Session, Scorecard]:
    session = await panel_session(clients.engine, session_id, user)
    _check_ratings(session, data.ratings)
    key = scorecard_key(session.id, user.id)
    now = utcnow()
    try:
        async with clients.locks.hold(f"scorecard:{key}"):
            doc = await _cards(clients.engine).find_one_and_update(
                {"_id": key, "status": "draft"},
                {
                    "$set": {
                        "ratings": data.ratings,
                        "recommendation": data.recommendation,
                        "summary": data.summary,
                        "updatedAt": now,
                    },
                    "$setOnInsert": {
                        "sessionId": session.id,
                        "authorId": user.id,
                        "status": "draft",
                        "createdAt": now,
                        "submittedAt": None,
                        "outboxEvents": [],
                        "eventsPending": False,
                    },
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
    except DuplicateKeyError:
        # The upsert met the submitted scorecard (status is no longer draft).
        raise Conflict("This scorecard was submitted", code="scorecard_submitted") from None
    return session, Scorecard.model_validate_doc(doc)


async def submit(clients: Clients, session_id: str, user: User) -> tuple[Session, Scorecard]:
    """Lock the session's criteria first (one conditional update; idempotent), then check the
    draft against those criteria and submit it conditionally on it being unchanged since read,
    with its `scorecard.submitted` event in the same write."""
    session = await panel_session(clients.engine, session_id, user)
    key = scorecard_key(session.id, user.id)
    doc = await _cards(clients.engine).find_one({"_id": key})
    if doc is None:
        raise BadRequest("Save a draft first (PUT .../scorecards/me)", code="scorecard_incomplete")
    card = Scorecard.model_validate_doc(doc)
    if card.status == "submitted":
        raise Conflict("This scorecard was submitted", code="scorecard_submitted")
    locked = session
    if not session.criteria_locked:
        locked = await store.update(
            clients,
            {"_id": session.id, "criteriaLocked": {"$ne": True}},
            {"$set": {"criteriaLocked": True}},
        ) or await store.load(clients.engine, session_id)
    missing = [c for c in locked.criteria if c not in card.ratings]
    problems = [{"field": f"ratings.{c}", "problem": "not rated"} for c in missing]
    if card.recommendation is None:
        problems.append({"field": "recommendation", "problem": "required"})
    extra = sorted(set(card.ratings) - set(locked.criteria))
    problems += [{"field": f"ratings.{c}", "problem": "not a criterion"} for c in extra]
    if problems:
        raise BadRequest(
            "Rate every criterion and give a recommendation before submitting",
            code="scorecard_incomplete",
            details=problems,
        )
    now = utcnow()
    # That someone submitted, never what: the log is read by colleagues who have not.
    event = session_event("scorecard.submitted", user.id, authorId=str(user.id))
    async with clients.locks.hold(f"scorecard:{key}"):
        submitted = await _cards(clients.engine).find_one_and_update(
            {"_id": key, "status": "draft", "updatedAt": card.updated_at},
            {
                "$set": {"status": "submitted", "submittedAt": now, "eventsPending": True},
                "$push": {"outboxEvents": event.model_dump_doc()},
            },
            return_document=ReturnDocument.AFTER,
        )
    if submitted is None:
        raise Conflict("The scorecard changed meanwhile; reload and retry", code="conflict")
    result = Scorecard.model_validate_doc(submitted)
    await move_events_to_log(
        clients, Scorecard, key, session.id, result.outbox_events, f"scorecard:{key}"
    )
    return locked, result


async def submitted_scorecards(engine: AIOEngine, session: Session) -> list[Scorecard]:
    cursor = (
        _cards(engine)
        .find({"sessionId": session.id, "status": "submitted"})
        .sort([("submittedAt", 1)])
    )
    return [Scorecard.model_validate_doc(doc) async for doc in cursor]


def summarize(criteria: list[str], cards: list[Scorecard]) -> ScoreSummary:
    per: dict[str, CriterionSummary] = {}
    for criterion in criteria:
        values = [card.ratings[criterion] for card in cards if criterion in card.ratings]
        per[criterion] = CriterionSummary(
            mean=round(sum(values) / len(values), 2) if values else None, count=len(values)
        )
    tally = Counter(card.recommendation for card in cards if card.recommendation)
    return ScoreSummary(
        submitted=len(cards),
        criteria=per,
        recommendations=RecommendationTally(**{rec: tally.get(rec, 0) for rec in RECOMMENDATIONS}),
    )


@dataclass
class Blind:
    visible: bool
    cards: list[Scorecard]
    summary: ScoreSummary | None


async def submitted_scorecard(
    engine: AIOEngine, session: Session, author_id: ObjectId
) -> Scorecard | None:
    doc = await _cards(engine).find_one(
        {"_id": scorecard_key(session.id, author_id), "status": "submitted"}
    )
    return Scorecard.model_validate_doc(doc) if doc else None


async def has_submitted(engine: AIOEngine, session: Session, viewer_id: ObjectId) -> bool:
    """The blind rule's one question: may this person see the others' scorecards?"""
    mine = await _cards(engine).find_one(
        {"_id": scorecard_key(session.id, viewer_id)}, {"status": 1}
    )
    return mine is not None and mine["status"] == "submitted"


async def blind_scorecards(engine: AIOEngine, session: Session, viewer: User) -> Blind:
    """Every submitted scorecard and their summary, but only for a caller who submitted their
    own: nobody is anchored by the others' scores. Someone of the organization who is not on
    the panel (a recruiter reading the record) scores nothing: they see them once the
    record is ready."""
    off_panel = not panel_role(session, viewer)
    if off_panel and session.record_ready_at is None:
        return Blind(False, [], None)
    if not off_panel and not await has_submitted(engine, session, viewer.id):
        return Blind(False, [], None)
    cards = await submitted_scorecards(engine, session)
    return Blind(True, cards, summarize(session.criteria, cards))


async def scorecards_for(clients: Clients, session_id: str, viewer: User) -> tuple[Session, Blind]:
    session = await panel_session(clients.engine, session_id, viewer)
    blind = await blind_scorecards(clients.engine, session, viewer)
    if not blind.visible:
        raise Forbidden("Submit your own scorecard to see the others'", code="submit_own_first")
    return session, blind


# --- integrity signals of the code


async def code_signals(
    clients: Clients, settings: Settings, session_id: str, viewer: User
) -> tuple[list[Signal], list[ClientSignal]]:
    """The signals of the session's code, for the host, and for an interviewer once their own
    scorecard is in (the blind rule: signals must not anchor a score). Never a verdict."""
    session = await panel_session(clients.engine, session_id, viewer)
    if not await may_see_signals(clients.engine, session, viewer):
        raise Forbidden("Submit your own scorecard to see the signals", code="submit_own_first")
    computed = await session_signals(clients.engine, session.id, settings)
    return computed, await client_signals(clients.engine, session.id)


# --- the event log


def event_cursor(record: SessionEventRecord) -> str:
    at = record.at if record.at.tzinfo else record.at.replace(tzinfo=UTC)
    return f"{int(at.timestamp() * 1000)}_{record.key.split(':', 1)[1]}"


def decode_event_cursor(session: Session, cursor: str) -> tuple[datetime, str]:
    ms, event_id = cursor.split("_", 1)
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC), f"{session.id}:{event_id}"


async def events_page(
    clients: Clients, session_id: str, viewer: User, after: str | None, limit: int
) -> tuple[list[SessionEventRecord], str | None]:
    session = await panel_session(clients.engine, session_id, viewer, Action.SESSIONS_READ)
    position = decode_event_cursor(session, after) if after else None
    await store.flush_events(clients, session)  # what waits in the document, first
    records, more = await read_events(clients, session, position, limit)
    return records, event_cursor(records[-1]) if more and records else None


# --- the record


@dataclass
class Record:
    session: Session
    events: list[SessionEventRecord]
    transcript: list[Document]
    runs: list[CodeRun]
    notes: list[Note]
    scorecards: Blind
    code: CodeHistory


async def timeline_page(
    clients: Clients, session_id: str, viewer: User, after: int | None, limit: int
) -> TimelineSlice:
    """One page of the code timeline (host and interviewers), with the runs, signals (blind
    rule) and client claims that fall between its first and last checkpoint: everything after
    the page before, up to its last checkpoint (the last page: up to now)."""
    session = await panel_session(clients.engine, session_id, viewer)
    await record_view(clients, session.org_id, viewer.id, session.id, "timeline.viewed")
    every = [step async for step in steps(clients.engine, session.id)]
    grouped = group(every, timedelta(seconds=clients.settings.code_timeline_group_s))
    start = 0
    if after is not None:
        start = next((i for i, c in enumerate(grouped) if c.last.position > after), len(grouped))
    page = grouped[start : start + limit]
    more = len(grouped) > start + limit and bool(page)
    # From the checkpoint before the page (not the cursor as given: a hand-made one may fall
    # inside a checkpoint), so every marker lands on exactly one page.
    before = grouped[start - 1] if start > 0 else None
    low, low_at = (before.last.position, before.last.at) if before else (0, None)
    high = page[-1].last.position if more else None
    high_at = page[-1].last.at if more else None

    def inside(position: int | None, at: datetime) -> bool:
        if position is not None:
            return position > low and (high is None or position <= high)
        return (low_at is None or at > low_at) and (high_at is None or at <= high_at)

    runs = await all_runs(clients.engine, session)
    placed = [
        RunCode(run, position, "")
        for run, position in zip(runs, run_positions(every, runs), strict=True)
        if inside(position, run.created_at)
    ]
    visible = await may_see_signals(clients.engine, session, viewer)
    signals: list[Signal] = []
    claims: list[ClientSignal] = []
    if visible:  # nothing hidden is even computed
        found = detect(every, rules_of(clients.settings))
        signals = [s for s in found if inside(s.step.position, s.step.at)]
        claims = [c for c in await client_signals(clients.engine, session.id) if inside(None, c.at)]
    return TimelineSlice(
        checkpoints=page,
        runs=placed,
        signals_visible=visible,
        signals=signals,
        claims=claims,
        next_cursor=high,
    )


def run_positions(every: list[Step], runs: list[CodeRun]) -> list[int | None]:
    """Each run's place in the log: the position of the document state it ran (None when
    its code came with it)."""
    position_of = {step.update_id: step.position for step in every}
    return [position_of.get(run.code_update_id) if run.code_update_id else None for run in runs]


async def may_see_signals(engine: AIOEngine, session: Session, viewer: User) -> bool:
    """The blind rule for signals: the host, or an interviewer whose scorecard is in."""
    return session.created_by == viewer.id or await has_submitted(engine, session, viewer.id)


async def code_history(
    clients: Clients, session: Session, viewer: User, runs: list[CodeRun]
) -> CodeHistory:
    """The code part of the record, from one pass over the history: the final code, the
    playback's checkpoints and their code, each run's code placed on the timeline with its
    diff to the run before, and the signals under the blind rule."""
    settings = clients.settings
    every = [step async for step in steps(clients.engine, session.id)]
    gap = timedelta(seconds=settings.code_timeline_group_s)
    grouped = group(every, gap)
    kept = grouped[: settings.record_max_code_frames]
    edits = await frame_edits(clients.engine, session.id, {c.last.position for c in kept})
    final = await state_at(clients.engine, session.id)
    placed, previous = [], ""
    for run, position in zip(runs, run_positions(every, runs), strict=True):
        placed.append(
            RunCode(
                run,
                position,
                diff_text(
                    previous, run.source, "previous run", "this run", settings.code_diff_max_lines
                ),
            )
        )
        previous = run.source
    visible = await may_see_signals(clients.engine, session, viewer)
    return CodeHistory(
        final=final,
        updates=len(every),
        checkpoints=kept,
        edits=edits,
        truncated=len(grouped) > len(kept),
        runs=placed,
        signals_visible=visible,
        signals=detect(every, rules_of(settings)) if visible else [],
        claims=await client_signals(clients.engine, session.id) if visible else [],
    )


async def transcript(engine: AIOEngine, session: Session) -> list[Document]:
    """The whole chat in order, hot and archived (pages of the history read, newest first), as
    stored documents (MessageOut.of_doc shows them)."""
    pages: list[list[Document]] = []
    before: str | None = None
    total = 0
    while total < RECORD_MAX_MESSAGES:
        query = HistoryQuery.model_validate(
            {"limit": 200, **({"before": before} if before else {})}
        )
        page, before = await history(engine, session.id, session.status, query)
        pages.append(page)
        total += len(page)
        if before is None:
            break
    return [message for page in reversed(pages) for message in page]


async def all_runs(engine: AIOEngine, session: Session) -> list[CodeRun]:
    runs: list[CodeRun] = []
    before: str | None = None
    while len(runs) < RECORD_MAX_RUNS:
        page, before = await list_runs(engine, session, ListRunsQuery(limit=100, before=before))
        runs += page
        if before is None:
            break
    return list(reversed(runs))


async def record_of(clients: Clients, session_id: str, viewer: User) -> Record:
    session = await panel_session(clients.engine, session_id, viewer, Action.RECORDS_READ)
    await record_view(clients, session.org_id, viewer.id, session.id, "record.viewed")
    await store.flush_events(clients, session)  # what waits in the document, first
    events, _ = await read_events(clients, session, None, RECORD_MAX_EVENTS)
    # Off the panel, the panel's notes only for a role that reads them (not a recruiter).
    reads_notes = panel_role(session, viewer) or allows(
        await role_in(clients.engine, session.org_id, viewer), Action.NOTES_READ
    )
    cursor = (
        _notes(clients.engine)
        .find(visible_notes_filter(session, viewer))
        .sort([("createdAt", 1), ("_id", 1)])
        .limit(RECORD_MAX_NOTES)
    )
    notes = [Note.model_validate_doc(doc) async for doc in cursor] if reads_notes else []
    runs = await all_runs(clients.engine, session)
    return Record(
        session=session,
        events=events,
        transcript=await transcript(clients.engine, session),
        runs=runs,
        notes=notes,
        scorecards=await blind_scorecards(clients.engine, session, viewer),
        code=await code_history(clients, session, viewer, runs),
    )


# --- account deletion


async def forget_author(clients: Clients, user_id: ObjectId) -> None:
    """A deleted account's notes go (private ones were theirs alone); its submitted scorecards
    stay, anonymous, so the panel's decision keeps its evidence; its drafts go."""
    await _notes(clients.engine).delete_many({"authorId": user_id})
    await _cards(clients.engine).delete_many({"authorId": user_id, "status": "draft"})
    await _cards(clients.engine).update_many({"authorId": user_id}, {"$set": {"authorId": None}})


async def erase_candidate_mentions(clients: Clients, erasure: Erasure) -> None:
    """A candidate's erasure: notes and scorecards about them keep their authors and lose
    the candidate's name and email."""
    if not erasure.session_ids:
        return
    where = {"sessionId": {"$in": erasure.session_ids}}
    regex = {"$regex": erasure.pattern().pattern, "$options": "i"}
    async for doc in _notes(clients.engine).find({**where, "body": regex}):
        await _notes(clients.engine).update_one(
            {"_id": doc["_id"]}, {"$set": {"body": erasure.scrub(doc["body"])}}
        )
        erasure.removed["notes_scrubbed"] += 1
    async for doc in _cards(clients.engine).find({**where, "summary": regex}):
        await _cards(clients.engine).update_one(
            {"_id": doc["_id"]}, {"$set": {"summary": erasure.scrub(doc["summary"])}}
        )
        erasure.removed["scorecards_scrubbed"] += 1


async def forget_session_evaluation(clients: Clients, session_id: ObjectId) -> None:
    await _notes(clients.engine).delete_many({"sessionId": session_id})
    await _cards(clients.engine).delete_many({"sessionId": session_id})


# --- events a crash left in documents

# Every other kind of document that carries events for a session's log, with how to lock it
# (sessions' own are the session store's).
OUTBOX_DOCUMENTS: tuple[tuple[Any, str], ...] = (
    (Note, "note"),
    (Scorecard, "scorecard"),
    (CodeRun, "run"),
)


async def flush_pending_events(clients: Clients, deadline: Deadline) -> dict[str, int]:
    """Events written with their change but not moved to the log yet (the process died right
    after the write, the expiry job's bulk update, the runner's writes) are moved now, within
    `deadline`."""
    counts = {"documents": 0, "events": 0}
    batch = clients.settings.job_batch_size
    async for session in store.with_pending_events(clients.engine, batch):
        if deadline.passed:
            return counts
        counts["documents"] += 1
        counts["events"] += await store.flush_events(clients, session)
    for model, lock in OUTBOX_DOCUMENTS:
        if deadline.passed:
            break
        pending = clients.engine.get_collection(model).find({"eventsPending": True}).limit(batch)
        async for doc in pending:
            if deadline.passed:
                break
            document = model.model_validate_doc(doc)
            key = document.key if model is Scorecard else document.id
            counts["documents"] += 1
            counts["events"] += await move_events_to_log(
                clients, model, key, document.session_id, document.outbox_events, f"{lock}:{key}"
            )
    return counts


async def announce_records(clients: Clients, deadline: Deadline) -> dict[str, int]:
    """Each completed session whose record was not announced: its chat is first caught up with
    Stream (what Stream holds that we lack is stored), then `record.ready` joins its log,
    once (the session is claimed by `recordReadyAt`). Stream away: the job retries."""
    counts = {"announced": 0, "imported": 0, "stopped_at_budget": 0}
    async for session in store.records_to_announce(clients.engine, clients.settings.job_batch_size):
        if deadline.passed:
            counts["stopped_at_budget"] = 1  # the rest keep recordReadyAt null: next run's
            break
        if clients.stream.configured and session.archived_at is None:
            counts["imported"] += await import_from_stream(
                clients.engine, clients.redis, clients.stream, session
            )
        announced = await store.update(
            clients,
            {"_id": session.id, "recordReadyAt": None},
            {"$set": {"recordReadyAt": utcnow()}},
            [session_event("record.ready", None, path=f"/api/sessions/{session.id}/record")],
        )
        if announced is not None:
            await store.flush_events(clients, announced)
            counts["announced"] += 1
    return counts
