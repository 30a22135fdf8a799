"""`ws://host/api/collab/<sessionId>?token=<access token>`: the y-websocket endpoint of a
session's shared editor (see tq/collab/service.py and the README's "Shared editor")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sanic import Blueprint, Request
from sanic.server.websockets.impl import WebsocketImplProtocol

from tq.auth.dependencies import authenticate_token
from tq.collab import protocol
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
from tq.core.errors import AppError
from tq.sessions.models import Session
from tq.sessions.service import load_session
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
        session = await load_session(rooms.engine, session_id)
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
            try:
                # (asyncio.timeout rather than recv's own, which makes a task per frame)
                async with asyncio.timeout(min(heard_at + idle, recheck_at) - now()):
                    frame = await ws.recv()
            except TimeoutError:
                frame = None
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
