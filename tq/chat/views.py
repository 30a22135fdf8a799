from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from tq.auth.dependencies import CurrentUser
from tq.auth.schemas import StreamTokenOut
from tq.chat import service
from tq.chat.schemas import (
    ChannelEnvelope,
    ChannelIn,
    ChannelOut,
    ChatTokenQuery,
    HistoryOut,
    HistoryQuery,
    MessageEnvelope,
    MessageOut,
    SaveMessageIn,
    WebhookAck,
)
from tq.core.clients import Clients
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.core.stream import CHANNEL_TYPE
from tq.sessions.queries import member_session_status, open_member_session
from tq.sessions.service import ensure_channel

bp = Blueprint("chat", url_prefix="/api/chat")
stream_events_bp = Blueprint("webhooks", url_prefix="/api/webhooks")


@bp.get("/token")
@doc(
    summary="A Stream user token (the route the React frontend calls); with sessionId, only "
    "for a member once that session's room is open",
    tag="chat",
    query=ChatTokenQuery,
    ok={200: StreamTokenOut},
    errors=(403, 404, 409, 503),
)
async def chat_token(request: Request, clients: Clients, viewer: CurrentUser) -> HTTPResponse:
    query = parse_query(request, ChatTokenQuery)
    if query.sessionId is not None:
        await open_member_session(clients, query.sessionId, viewer)
    return json(dump(StreamTokenOut.of(viewer, clients.stream)))


@bp.post("/channel")
@doc(
    summary="Make sure the session's Stream channel exists with its members",
    tag="chat",
    body=ChannelIn,
    ok={200: ChannelEnvelope},
    errors=(403, 404, 409, 413, 503),
)
async def channel(request: Request, clients: Clients, viewer: CurrentUser) -> HTTPResponse:
    data = parse_body(request, ChannelIn)
    session = await open_member_session(clients, data.sessionId, viewer)
    members = await ensure_channel(clients, session)
    out = ChannelOut(type=CHANNEL_TYPE, id=session.stream_channel_id, members=members)
    return json(dump(ChannelEnvelope(channel=out)))


@bp.get("/history/<session_id:str>")
@doc(
    summary="A page of a session's chat history (oldest first within the page)",
    tag="chat",
    query=HistoryQuery,
    ok={200: HistoryOut},
    errors=(
        403,
        404,
    ),
)
async def history(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, HistoryQuery)
    oid, status = await member_session_status(clients.engine, session_id, viewer)
    messages, next_cursor = await service.history(clients.engine, oid, status, query)
    # Built from what the server stored: nothing to validate again.
    body = HistoryOut.model_construct(
        messages=[MessageOut.of_doc(m) for m in messages], nextCursor=next_cursor
    )
    return json(dump(body))


@bp.post("/save-message")
@doc(
    summary="Save a chat message (idempotent by Stream message id)",
    tag="chat",
    body=SaveMessageIn,
    ok={201: MessageEnvelope, 200: MessageEnvelope},
    errors=(403, 404, 409, 413),
)
async def save_message(request: Request, clients: Clients, viewer: CurrentUser) -> HTTPResponse:
    data = parse_body(request, SaveMessageIn)
    message, created = await service.save_message(clients, viewer, data)
    body = MessageEnvelope(message=MessageOut.of(message))
    return json(dump(body), status=201 if created else 200)


@stream_events_bp.post("/stream")
@doc(
    summary="Stream webhook deliveries (signed with the API secret)",
    tag="chat",
    ok={200: WebhookAck},
    errors=(401, 413, 503),
    auth=False,
)
async def stream_webhook(request: Request, clients: Clients) -> HTTPResponse:
    duplicate = await service.receive_stream_event(
        clients,
        request.body,
        request.headers.get("x-signature"),
        request.headers.get("x-api-key"),
        request.headers.get("x-webhook-id"),
    )
    return json(dump(WebhookAck(ok=True, duplicate=duplicate)))
