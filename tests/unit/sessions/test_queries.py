"""Unit tests of tq.sessions.queries (pure functions, no services)."""

from __future__ import annotations

from tq.sessions.queries import list_filter
from tq.sessions.schemas import ListSessionsQuery
from tq.users.models import User


def test_session_list_filter_by_scope() -> None:
    viewer = User(email="a@example.com", password="x", name="A", role="candidate", stream_id="s")
    mine = list_filter(viewer, ListSessionsQuery.model_validate({"status": "active,completed"}))
    assert mine == {"members": viewer.id, "status": {"$in": ["active", "completed"]}}
    open_ = list_filter(
        viewer, ListSessionsQuery.model_validate({"scope": "open", "status": "completed,active"})
    )
    # "open" never lists final sessions, whatever status is asked for.
    assert open_["status"] == {"$in": ["active"]} and open_["members"] == {"$ne": viewer.id}
    searched = list_filter(viewer, ListSessionsQuery.model_validate({"q": "a.b"}))
    assert searched["title"] == {"$regex": r"a\.b", "$options": "i"}
