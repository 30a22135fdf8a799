"""tq.sessions.queries on the run's real database: which sessions JOINABLE (who may take a
first-come seat) matches, as the open list and the join apply it, and `is_joinable` on the
document read, as the single-session route applies it: the same."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId
from odmantic import AIOEngine

from tq.sessions.models import Session, Status, Visibility
from tq.sessions.queries import JOINABLE, is_joinable

CASES: list[tuple[Status, Visibility, int, bool]] = [
    ("scheduled", "open", 1, True),
    ("active", "open", 2, True),
    ("active", "open", 0, False),
    ("active", "invite_only", 1, False),
    ("scheduled", "invite_only", 3, False),
    ("completed", "open", 1, False),
    ("cancelled", "open", 1, False),
]


@pytest.mark.parametrize(("status", "visibility", "seats_left", "joinable"), CASES)
async def test_joinable_matches_open_unfinished_sessions_with_a_seat(
    engine: AIOEngine, status: Status, visibility: Visibility, seats_left: int, joinable: bool
) -> None:
    session = Session(
        title="joinable?",
        created_by=ObjectId(),
        status=status,
        visibility=visibility,
        seats_left=seats_left,
        stream_channel_id=f"session-{ObjectId()}",
        start_time=datetime(2100, 1, 1, 12, 0, tzinfo=UTC),
    )
    collection = engine.get_collection(Session)
    await collection.insert_one(session.model_dump_doc())
    try:
        found = await collection.find_one({"_id": session.id, **JOINABLE})
        assert (found is not None) is joinable
        # The same rule on the document as read (the single-session route's check).
        stored = await collection.find_one({"_id": session.id})
        assert stored is not None and is_joinable(stored) is joinable
    finally:
        await collection.delete_one({"_id": session.id})
