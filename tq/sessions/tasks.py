"""Job logic for sessions: make a session's Stream channel match the database."""

from __future__ import annotations

import logging

from bson import ObjectId
from odmantic import AIOEngine
from redis.asyncio import Redis

from tq.core.locks import document_lock
from tq.core.stream import StreamChannelSpec, StreamGateway
from tq.sessions.models import FINAL_STATUSES, Session, channel_id_for
from tq.users.models import User
from tq.users.service import get_users, parse_object_id, stream_user_payload

log = logging.getLogger("tq.sessions.tasks")
DELETED_HOST = "deleted-user"


def channel_spec(session: Session, users: dict[ObjectId, User]) -> StreamChannelSpec:
    host = users.get(session.created_by)
    member_users = [users[uid] for uid in session.members if uid in users]
    return StreamChannelSpec(
        channel_id=session.stream_channel_id,
        created_by=host.stream_id if host else DELETED_HOST,
        members=[stream_user_payload(user) for user in member_users],
        data={
            "name": session.title,
            "sessionId": str(session.id),
            "problemId": session.problem_id,
            "language": session.language,
        },
        frozen=session.status in FINAL_STATUSES,
    )


async def sync_session_channel(
    engine: AIOEngine, redis: Redis, stream: StreamGateway, session_id: str
) -> dict[str, int]:
    """Converge Stream on the database: the channel exists with members = host + participants,
    frozen once the session is final, and is gone once the session is deleted. Reads current
    state every time, so repeated or reordered runs end the same."""
    if not stream.configured:
        log.info("sync_session_channel skipped: Stream is not configured")
        return {"skipped": 1}
    oid = parse_object_id(session_id)
    if oid is None:
        return {"invalid": 1}
    session = await engine.find_one(Session, Session.id == oid)
    if session is None:
        await stream.delete_channel(channel_id_for(oid))
        return {"deleted": 1}
    users = await get_users(engine, session.members)
    await stream.sync_channel(channel_spec(session, users))
    # Marked in step only if nothing changed meanwhile; a later change queued its own run.
    async with document_lock(redis, f"session:{session.id}"):
        await engine.get_collection(Session).update_one(
            {"_id": session.id, "updatedAt": session.updated_at, "streamSync": {"$ne": "ok"}},
            {"$set": {"streamSync": "ok"}},
        )
    return {"synced": 1}
