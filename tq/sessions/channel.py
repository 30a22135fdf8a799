"""A session's Stream channel made to match the session: its spec (members, data, frozen once
final) and the push that marks the session in step. Used by the sessions service right after a
write and by the `sync_session_channel` job."""

from __future__ import annotations

from bson import ObjectId

from tq.core.clients import Clients
from tq.core.stream import StreamChannelSpec
from tq.sessions import store
from tq.sessions.models import FINAL_STATUSES, Session, channel_id_for
from tq.users.models import UserCard
from tq.users.service import get_users, stream_user_payload

DELETED_HOST = "deleted-user"


def channel_spec(session: Session, users: dict[ObjectId, UserCard]) -> StreamChannelSpec:
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


async def push_channel(
    clients: Clients, session: Session, users: dict[ObjectId, UserCard]
) -> Session:
    """Make Stream's channel match `session` as given, then mark the session in step, if it was
    not, unless it changed meanwhile (that change queued its own sync). No read: the caller
    passes what it has. Returns the session as it now stands."""
    await clients.stream.sync_channel(channel_spec(session, users))
    if session.stream_sync == "ok":
        return session
    if await store.mark_in_step(clients, session):
        session.stream_sync = "ok"
    return session


async def converge_channel(clients: Clients, session_id: ObjectId) -> str:
    """Converge Stream on the database: the channel exists with members = host + participants,
    frozen once the session is final, and is gone once the session is deleted. Reads current
    state every time, so repeated or reordered runs end the same."""
    session = await store.find(clients.engine, session_id)
    if session is None:
        await clients.stream.delete_channel(channel_id_for(session_id))
        return "deleted"
    await push_channel(clients, session, await get_users(clients.engine, session.members))
    return "synced"
