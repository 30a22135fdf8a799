"""`ws://host/api/collab/<sessionId>?token=<access token>`: the y-websocket endpoint of a
session's shared editor (see tq/collab/service.py and the README's "Shared editor")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime

from bson import ObjectId
from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse
from sanic.server.websockets.impl import WebsocketImplProtocol

from tq.auth.dependencies import CurrentUser, authenticate_token
from tq.collab import history, protocol
from tq.collab.schemas import (
    ClientSignalEnvelope,
    ClientSignalIn,
    ClientSignalOut,
    CodeOut,
    CodeQuery,
    DiffOut,
    DiffQuery,
    ExportedUpdate,
    ExportOut,
)
from tq.collab.service import (
    CLOSE_IDLE,
    CLOSE_MALFORMED,
    CLOSE_NOT_FOUND,
    CLOSE_STORAGE,
    CLOSE_UNAUTHORIZED,
    SEND_TIMEOUT_S,
    Bucket,
    Connection,
    Refused,
    Room,
    Rooms,
    admission,
    send,
)
from tq.core.clients import Clients
from tq.core.errors import AppError, Forbidden
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.orgs.audit import record_view
from tq.sessions import store
from tq.sessions.models import Session
from tq.sessions.queries import member_session, panel_session
from tq.sessions.schemas import session_role
from tq.users.models import User

log = logging.getLogger("tq.collab")
now = time.monotonic
bp = Blueprint("collab", url_prefix="/api/collab")


async def _check(
    request: Request, session_id: str, rooms: Rooms
) -> tuple[Session, User, str, bool]:
    """(session, account, role, read-only) of the token's holder, or Refused: at the door, and
    again every COLLAB_RECHECK_S while connected (a revoked token, a removed member, a session
    that ended). The database or Redis failing is 1011 (the client tries again later)."""
    try:
        user, _ = await authenticate_token(request, request.args.get("token", ""))
    except AppError:
        raise Refused(CLOSE_UNAUTHORIZED, "unauthorized") from None
    except Exception as exc:
        raise unavailable(exc) from None
    try:
        session = await store.load(rooms.engine, session_id)
    except AppError:
        raise Refused(CLOSE_NOT_FOUND, "session_not_found") from None
    except Exception as exc:
        raise unavailable(exc) from None
    role, read_only = admission(rooms.settings, session, user)
    return session, user, role, read_only


def unavailable(exc: BaseException) -> Refused:
    # Logged here, by name: Sanic's error log would print the URL, and so the token.
    log.warning("collab connection refused: %s", type(exc).__name__)
    return Refused(CLOSE_STORAGE, "unavailable")


async def _recheck(
    request: Request, session_id: str, rooms: Rooms, room: Room, connection: Connection
) -> None:
    _, user, role, read_only = await _check(request, session_id, rooms)
    connection.user, connection.role = user, role
    if read_only and not connection.read_only:
        connection.read_only = True
        rooms.compact_soon(room)  # the session ended: its log is complete


async def close(ws: WebsocketImplProtocol, refusal: Refused) -> None:
    """The close frame, then the handshake's end: returning at once would let Sanic tear the
    connection down with the frame still unsent (the client would see 1006). Within a bound:
    a client that reads nothing is failed instead."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await ws.close(refusal.code, refusal.reason)
    except TimeoutError:
        ws.fail_connection(refusal.code, refusal.reason)
        return
    with contextlib.suppress(Exception):
        # Until the peer's close frame is back (recv ends then): the handshake is complete.
        while await ws.recv(timeout=2) is not None:
            pass


@bp.websocket("/<session_id:str>")  # type: ignore[untyped-decorator]
async def collab(request: Request, ws: WebsocketImplProtocol, session_id: str) -> None:
    rooms: Rooms = request.app.ctx.rooms
    settings = rooms.settings
    try:
        session, user, role, read_only = await _check(request, session_id, rooms)
        connection = Connection(
            socket=ws,
            user=user,
            role=role,
            read_only=read_only,
            updates=Bucket(settings.collab_updates_per_second),
            frames=Bucket(settings.collab_frames_per_second),
        )
        try:
            room = await rooms.open(session, connection)
        except Refused:
            raise
        except Exception as exc:  # the log could not be read
            raise unavailable(exc) from None
    except Refused as refusal:
        # Accepted, then closed with a 44xx code: the y-websocket client stops retrying (an
        # HTTP refusal of the upgrade reads as 1006 to it, and it would retry forever).
        await close(ws, refusal)
        return
    idle, every = settings.collab_idle_timeout_s, settings.collab_recheck_s
    heard_at = time.monotonic()
    recheck_at = heard_at + every
    try:
        # The server's own sync step 1 makes the client send what it has that the server
        # lacks (its step 2); then who is already there.
        await send(connection, protocol.sync_step1(room.doc))
        if room.awareness.states:
            ids = list(room.awareness.states)
            update = room.awareness.encode_awareness_update(ids)
            await send(connection, protocol.awareness_message(update))
        while True:
            # The next frame, until the idle bound or the next re-check, whichever is first:
            # one who only listens is re-checked too.
            # (recv's own timeout: cancelling Sanic's recv from outside leaves its frame
            # assembler marked busy, and the next recv fails)
            frame = await ws.recv(timeout=max(0.0, min(heard_at + idle, recheck_at) - now()))
            if now() >= recheck_at:
                try:
                    await _recheck(request, session_id, rooms, room, connection)
                except Refused:
                    raise
                except Exception as exc:
                    raise unavailable(exc) from None
                recheck_at = now() + every
            if frame is None:
                if now() >= heard_at + idle:
                    raise Refused(CLOSE_IDLE, "idle")
                continue
            heard_at = now()
            if isinstance(frame, str):
                raise Refused(CLOSE_MALFORMED, "binary_frames_only")
            try:
                await rooms.receive(room, connection, frame)
            except (Refused, asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # yrs panics are BaseExceptions
                # Whatever a frame made the parser or yrs raise ends this connection alone,
                # and never reaches Sanic's error log (which would print the URL: the token).
                log.info("collab frame refused: %s", type(exc).__name__)
                raise Refused(CLOSE_MALFORMED, "malformed_frame") from None
    except Refused as refusal:
        log.info("collab connection closed: %s", refusal.reason)
        await close(ws, refusal)
    finally:
        # Sanic cancels this task when the peer goes away: the room forgets the connection
        # (and its cursors) whatever the way out.
        await asyncio.shield(rooms.leave(room, connection))


# --- the code's history (host and interviewers; 404 for everyone else, as notes)

code_bp = Blueprint("code_history", url_prefix="/api/sessions")
TAG = "code history"
EXPORT_FORMAT = "yjs-update-v1-base64"


async def _moment(
    clients: Clients, session_id: ObjectId, moment: int | datetime
) -> history.CodeState:
    if isinstance(moment, int):
        return await history.state_at(clients.engine, session_id, position=moment)
    return await history.state_at(clients.engine, session_id, at=moment)


@code_bp.get("/<session_id:str>/code")
@doc(
    summary="The shared code now, at a past time (`at`) or after a position of the log",
    tag=TAG,
    query=CodeQuery,
    ok={200: CodeOut},
    errors=(403, 400, 404),
)
async def code_at(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, CodeQuery)
    session = await panel_session(clients.engine, session_id, viewer)
    state = await history.state_at(clients.engine, session.id, at=query.at, position=query.position)
    return json(dump(CodeOut.of(state)))


@code_bp.get("/<session_id:str>/code/diff")
@doc(
    summary="A unified diff of the code between two moments (times or log positions)",
    tag=TAG,
    query=DiffQuery,
    ok={200: DiffOut},
    errors=(403, 400, 404),
)
async def code_diff(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, DiffQuery)
    session = await panel_session(clients.engine, session_id, viewer)
    before = await _moment(clients, session.id, query.from_)
    after = await _moment(clients, session.id, query.to)
    body = DiffOut(
        diff=history.unified_diff(before, after, clients.settings.code_diff_max_lines),
        **{"from": CodeOut.of(before)},
        to=CodeOut.of(after),
    )
    return json(dump(body))


@code_bp.get("/<session_id:str>/code/export")
@doc(
    summary="The raw Yjs update log, in order, for any Yjs client to replay offline",
    tag=TAG,
    ok={200: ExportOut},
    errors=(
        403,
        404,
    ),
)
async def code_export(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    session = await panel_session(clients.engine, session_id, viewer)
    await record_view(clients, session.org_id, viewer.id, session.id, "code.exported")
    updates = [
        ExportedUpdate(**entry) async for entry in history.export(clients.engine, session.id)
    ]
    body = ExportOut(sessionId=str(session.id), format=EXPORT_FORMAT, updates=updates)
    return json(dump(body))


@code_bp.post("/<session_id:str>/code/signals")
@doc(
    summary="The candidate's editor reports a paste or leaving and coming back to the page (a "
    "claim of the client, shown as such to the panel; candidate only)",
    tag=TAG,
    body=ClientSignalIn,
    ok={201: ClientSignalEnvelope},
    errors=(400, 403, 404, 429),
)
async def report_signal(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, ClientSignalIn)
    session = await member_session(clients.engine, session_id, viewer)
    if session_role(session, viewer.id) != "candidate":
        raise Forbidden("Only the candidate's editor reports signals", code="candidate_only")
    signal = await history.report(
        clients.engine, clients.settings, session, viewer.id, data.kind, data.length
    )
    return json(dump(ClientSignalEnvelope(signal=ClientSignalOut.of(signal))), status=201)
