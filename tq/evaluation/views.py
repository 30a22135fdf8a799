from __future__ import annotations

from collections.abc import Iterable

from bson import ObjectId
from sanic import Blueprint, Request, empty, json
from sanic.response import HTTPResponse, html

from tq.auth.dependencies import CurrentUser
from tq.chat.schemas import MessageOut
from tq.collab.schemas import CheckpointOut, ClientSignalOut, TimelineQuery
from tq.core.clients import Clients
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.core.time import utcnow
from tq.evaluation import service
from tq.evaluation.models import Scorecard
from tq.evaluation.record_page import PAGE_POLICY, render_record_page
from tq.evaluation.schemas import (
    BlindScorecards,
    CodeSignalOut,
    CodeSignals,
    EventOut,
    EventPage,
    EventsQuery,
    MyScorecardOut,
    NoteEnvelope,
    NoteIn,
    NoteOut,
    NotePage,
    NotesQuery,
    NoteUpdateIn,
    RecordCode,
    RecordOut,
    ScorecardIn,
    ScorecardList,
    ScorecardOut,
    TimelinePage,
    TimelineRunOut,
)
from tq.runner.schemas import RunOut
from tq.scorecard_templates import service as templates
from tq.scorecard_templates.schemas import RubricOut
from tq.sessions.models import Session
from tq.sessions.schemas import SessionOut
from tq.users.models import User, UserCard
from tq.users.service import get_users

bp = Blueprint("evaluation", url_prefix="/api/sessions")
TAG = "evaluation"
# candidates and outsiders: 404 on every route here; the organization's members whose role
# does not reach it: 403
PANEL_ERRORS = (403, 404)


async def _people(clients: Clients, ids: Iterable[ObjectId | None]) -> dict[ObjectId, UserCard]:
    return await get_users(clients.engine, {uid for uid in ids if uid is not None})


# --- notes


@bp.post("/<session_id:str>/notes")
@doc(
    summary="Write a note (host or interviewer): private (the author only) or panel",
    tag=TAG,
    body=NoteIn,
    ok={201: NoteEnvelope},
    errors=PANEL_ERRORS,
)
async def create_note(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, NoteIn)
    session, note = await service.create_note(clients, session_id, viewer, data)
    users = await _people(clients, [note.author_id])
    body = NoteEnvelope(note=NoteOut.for_viewer(note, session, users, viewer))
    return json(dump(body), status=201)


@bp.get("/<session_id:str>/notes")
@doc(
    summary="The notes the caller may see, oldest first (host or interviewer)",
    tag=TAG,
    query=NotesQuery,
    ok={200: NotePage},
    errors=PANEL_ERRORS,
)
async def list_notes(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, NotesQuery)
    session, notes, cursor = await service.list_notes(clients, session_id, viewer, query)
    users = await _people(clients, [n.author_id for n in notes])
    body = NotePage(
        notes=[NoteOut.for_viewer(n, session, users, viewer) for n in notes], nextCursor=cursor
    )
    return json(dump(body))


@bp.patch("/<session_id:str>/notes/<note_id:str>")
@doc(
    summary="Change one's own note",
    tag=TAG,
    body=NoteUpdateIn,
    ok={200: NoteEnvelope},
    errors=(403, 404),
)
async def update_note(
    request: Request, session_id: str, note_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, NoteUpdateIn)
    session, note = await service.update_note(clients, session_id, viewer, note_id, data)
    users = await _people(clients, [note.author_id])
    return json(dump(NoteEnvelope(note=NoteOut.for_viewer(note, session, users, viewer))))


@bp.delete("/<session_id:str>/notes/<note_id:str>")
@doc(summary="Delete one's own note", tag=TAG, ok={204: None}, errors=(403, 404))
async def delete_note(
    request: Request, session_id: str, note_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    await service.delete_note(clients, session_id, viewer, note_id)
    return empty()


# --- scorecards


async def _mine(
    clients: Clients, session: Session, viewer: User, card: Scorecard | None
) -> HTTPResponse:
    users = await _people(clients, [viewer.id])
    out = ScorecardOut.for_viewer(card, session, users, viewer) if card else None
    rubric = None
    if session.scorecard_template_version_id is not None:
        # The version the session pinned: a later edit of the template changes nothing here.
        pinned = await templates.pinned(clients.engine, session.scorecard_template_version_id)
        if pinned is not None:
            rubric = RubricOut.of(pinned)
    return json(dump(MyScorecardOut(scorecard=out, criteria=session.criteria, rubric=rubric)))


@bp.get("/<session_id:str>/scorecards/me")
@doc(
    summary="The caller's own scorecard (null until a draft is saved) and the criteria",
    tag=TAG,
    ok={200: MyScorecardOut},
    errors=PANEL_ERRORS,
)
async def my_scorecard(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    session, card = await service.my_scorecard(clients, session_id, viewer)
    return await _mine(clients, session, viewer, card)


@bp.put("/<session_id:str>/scorecards/me")
@doc(
    summary="Save the caller's scorecard as a draft (until submitted)",
    tag=TAG,
    body=ScorecardIn,
    ok={200: MyScorecardOut},
    errors=(403, 404, 409),
)
async def save_scorecard(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, ScorecardIn)
    session, card = await service.save_draft(clients, session_id, viewer, data)
    return await _mine(clients, session, viewer, card)


@bp.post("/<session_id:str>/scorecards/me/submit")
@doc(
    summary="Submit the caller's scorecard: every criterion rated and a recommendation; then "
    "immutable",
    tag=TAG,
    ok={200: MyScorecardOut},
    errors=(403, 404, 409),
)
async def submit_scorecard(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    session, card = await service.submit(clients, session_id, viewer)
    return await _mine(clients, session, viewer, card)


@bp.get("/<session_id:str>/scorecards")
@doc(
    summary="Every submitted scorecard and their summary; blind: 403 submit_own_first until "
    "the caller submitted their own",
    tag=TAG,
    ok={200: ScorecardList},
    errors=(403, 404),
)
async def scorecards(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    session, blind = await service.scorecards_for(clients, session_id, viewer)
    users = await _people(clients, [c.author_id for c in blind.cards])
    assert blind.summary is not None
    body = ScorecardList(
        scorecards=[ScorecardOut.for_viewer(c, session, users, viewer) for c in blind.cards],
        summary=blind.summary,
    )
    return json(dump(body))


# --- the code's timeline, with its runs and signals


@bp.get("/<session_id:str>/code/timeline")
@doc(
    summary="The code's editing history as checkpoints, oldest first, with the runs and the "
    "integrity signals between them (host or interviewer; signals under the blind rule)",
    tag=TAG,
    query=TimelineQuery,
    ok={200: TimelinePage},
    errors=(403, 400, 404),
)
async def code_timeline(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, TimelineQuery)
    found = await service.timeline_page(clients, session_id, viewer, query.after, query.limit)
    ids = [c.first.author_id for c in found.checkpoints] + [s.step.author_id for s in found.signals]
    users = await get_users(clients.engine, [i for i in ids if i])
    body = TimelinePage(
        checkpoints=[CheckpointOut.of(c, users) for c in found.checkpoints],
        runs=[TimelineRunOut.of(placed) for placed in found.runs],
        signalsVisible=found.signals_visible,
        signals=[CodeSignalOut.of(signal, users) for signal in found.signals],
        clientSignals=[ClientSignalOut.of(claim) for claim in found.claims],
        nextCursor=found.next_cursor,
    )
    return json(dump(body))


# --- integrity signals of the code


@bp.get("/<session_id:str>/code/signals")
@doc(
    summary="Integrity signals of the shared code, each with its evidence (host; an interviewer "
    "once their own scorecard is in: 403 submit_own_first before)",
    tag=TAG,
    ok={200: CodeSignals},
    errors=(403, 404),
)
async def code_signals(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    signals, claims = await service.code_signals(clients, clients.settings, session_id, viewer)
    users = await get_users(clients.engine, [s.step.author_id for s in signals if s.step.author_id])
    body = CodeSignals(
        signals=[CodeSignalOut.of(signal, users) for signal in signals],
        clientSignals=[ClientSignalOut.of(claim) for claim in claims],
    )
    return json(dump(body))


# --- events and the record


@bp.get("/<session_id:str>/events")
@doc(
    summary="The session's event log, oldest first, cursor-paged (host and interviewers)",
    tag=TAG,
    query=EventsQuery,
    ok={200: EventPage},
    errors=PANEL_ERRORS,
)
async def events(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, EventsQuery)
    records, cursor = await service.events_page(
        clients, session_id, viewer, query.after, query.limit
    )
    return json(dump(EventPage(events=[EventOut.of(r) for r in records], nextCursor=cursor)))


async def _record(session_id: str, clients: Clients, viewer: CurrentUser) -> RecordOut:
    record = await service.record_of(clients, session_id, viewer)
    session = record.session
    authors = [n.author_id for n in record.notes] + [c.author_id for c in record.scorecards.cards]
    code = record.code
    editors = [c.first.author_id for c in code.checkpoints] + [
        s.step.author_id for s in code.signals
    ]
    users = await _people(clients, [*session.members, *authors, *(e for e in editors if e)])
    blind = record.scorecards
    return RecordOut(
        session=SessionOut.of(
            session,
            users,
            viewer,
            join_window_minutes=clients.settings.join_window_minutes,
            now=utcnow(),
        ),
        events=[EventOut.of(r) for r in record.events],
        transcript=[MessageOut.of_doc(m) for m in record.transcript],
        runs=[RunOut.of(run) for run in record.runs],
        notes=[NoteOut.for_viewer(note, session, users, viewer) for note in record.notes],
        scorecards=BlindScorecards(
            visible=blind.visible,
            scorecards=[ScorecardOut.for_viewer(c, session, users, viewer) for c in blind.cards],
            summary=blind.summary,
        ),
        code=RecordCode.of(code, users),
    )


@bp.get("/<session_id:str>/record")
@doc(
    summary="The post-interview record: session, timeline, transcript, runs, notes the caller "
    "may see, scorecards under the blind rule (host and interviewers)",
    tag=TAG,
    ok={200: RecordOut},
    errors=PANEL_ERRORS,
)
async def record(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return json(dump(await _record(session_id, clients, viewer)))


@bp.get("/<session_id:str>/record.html")
@doc(
    summary="The record as one self-contained printable HTML page",
    tag=TAG,
    ok={200: "text/html"},
    errors=PANEL_ERRORS,
)
async def record_page(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    page = render_record_page(await _record(session_id, clients, viewer))
    # Self-contained: nothing to load, and no script but the playback's own may run (the
    # page shows what users wrote).
    return html(page, headers={"Content-Security-Policy": PAGE_POLICY})
