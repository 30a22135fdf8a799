"""Session lists: filters, sorting, exact pagination, the frontend's list contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support import act, create, iso, register


@pytest.fixture
async def host(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client, role="interviewer", name="Lister")


async def get(
    http: httpx.AsyncClient, who: dict[str, Any], path: str, **params: Any
) -> httpx.Response:
    return await http.get(path, headers=who["headers"], params=params)


async def test_filters_sorting_and_pagination(client, host) -> None:
    now = datetime.now(UTC)
    made = []
    specs = [
        {"title": "Alpha arrays", "difficulty": "easy", "language": "python"},
        {"title": "Beta graphs", "difficulty": "hard", "language": "go"},
        {"title": "Gamma ARRAYS", "difficulty": "easy", "language": "go"},
        {"title": "Delta later", "startTime": iso(now + timedelta(days=2))},
        {"title": "Epsilon later", "startTime": iso(now + timedelta(days=1))},
        {"title": "Zeta", "difficulty": "medium"},
        {"title": "Eta", "difficulty": "medium"},
    ]
    for spec in specs:
        made.append(await create(client, host, **spec))
    await act(client, host, made[5], "end")

    everything = await get(client, host, "/api/sessions", limit=100)
    assert everything.status_code == 200
    ids = [s["_id"] for s in everything.json()["sessions"]]
    assert ids == [s["_id"] for s in reversed(made)]  # -createdAt by default
    assert everything.json()["pagination"] == {"page": 1, "limit": 100, "total": 7, "pages": 1}

    pages = [await get(client, host, "/api/sessions", limit=3, page=p) for p in (1, 2, 3, 4)]
    seen = [s["_id"] for page in pages for s in page.json()["sessions"]]
    assert seen == ids  # no gap, no repeat across page edges
    assert [len(p.json()["sessions"]) for p in pages] == [3, 3, 1, 0]
    assert pages[0].json()["pagination"] == {"page": 1, "limit": 3, "total": 7, "pages": 3}

    easy = await get(client, host, "/api/sessions", difficulty="easy")
    assert {s["title"] for s in easy.json()["sessions"]} == {"Alpha arrays", "Gamma ARRAYS"}
    go = await get(client, host, "/api/sessions", language="go", difficulty="easy")
    assert [s["title"] for s in go.json()["sessions"]] == ["Gamma ARRAYS"]
    search = await get(client, host, "/api/sessions", q="arrays")
    assert search.json()["pagination"]["total"] == 2
    regex_chars = await get(client, host, "/api/sessions", q=".*")
    assert regex_chars.json()["pagination"]["total"] == 0  # taken literally, not as a regex

    scheduled = await get(client, host, "/api/sessions", status="scheduled", sort="startTime")
    assert [s["title"] for s in scheduled.json()["sessions"]] == ["Epsilon later", "Delta later"]
    several = await get(client, host, "/api/sessions", status="scheduled,completed")
    assert several.json()["pagination"]["total"] == 3
    # The spec's array form: the parameter repeated.
    repeated = await get(client, host, "/api/sessions", status=["scheduled", "completed"])
    assert repeated.json()["pagination"]["total"] == 3
    twice = await get(client, host, "/api/sessions", limit=["1", "2"])
    assert twice.status_code == 400  # a single-valued parameter given twice is still refused
    window = await get(
        client,
        host,
        "/api/sessions",
        **{"from": iso(now + timedelta(hours=12)), "to": iso(now + timedelta(hours=36))},
    )
    assert [s["title"] for s in window.json()["sessions"]] == ["Epsilon later"]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "bogus"},
        {"status": "active,nope"},
        {"limit": "0"},
        {"limit": "1000"},
        {"limit": "ten"},
        {"page": "0"},
        {"sort": "title"},
        {"difficulty": "extreme"},
        {"scope": "everyone"},
        {"from": "yesterday"},
        {"unknown": "1"},
    ],
)
async def test_bad_query_values_are_400(client, host, params) -> None:
    response = await get(client, host, "/api/sessions", **params)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "validation_error"
    assert response.json()["details"]


async def test_scope_open_lists_joinable_sessions_of_others(client, host) -> None:
    seeker = await register(client)
    joinable = await create(client, host, title="Open for all", problem="Open-1")
    full = await create(client, host, title="Already full")
    assert (await act(client, await register(client), full, "join")).status_code == 200
    ended = await create(client, host, title="Ended")
    await act(client, host, ended, "end")
    await create(client, seeker, title="My own")
    response = await get(client, seeker, "/api/sessions", scope="open", limit=100)
    ids = {s["_id"] for s in response.json()["sessions"]}
    assert joinable["_id"] in ids
    assert full["_id"] not in ids and ended["_id"] not in ids
    assert all(s["host"]["_id"] != seeker["user"]["_id"] for s in response.json()["sessions"])
    assert all(s["callId"] is None for s in response.json()["sessions"])


async def test_sessions_of_a_user(client, host) -> None:
    other = await register(client)
    shared = await create(client, host, title="Shared")
    await act(client, other, shared, "join")
    await create(client, host, title="Host only")
    await create(client, other, title="Other only")

    mine = await get(client, host, f"/api/sessions/user/{host['user']['_id']}")
    assert {s["title"] for s in mine.json()["sessions"]} == {"Shared", "Host only"}
    theirs = await get(client, host, f"/api/sessions/user/{other['user']['_id']}")
    assert [s["title"] for s in theirs.json()["sessions"]] == ["Shared"]
    assert (await get(client, host, "/api/sessions/user/not-an-id")).status_code == 404


def assert_frontend_fields(session: dict[str, Any]) -> None:
    assert isinstance(session["_id"], str)
    assert session["problem"] is None or isinstance(session["problem"], str)
    assert isinstance(session["difficulty"], str)  # the lobby calls .toLowerCase()
    assert session["status"] in {"scheduled", "active", "completed", "cancelled"}
    datetime.fromisoformat(session["createdAt"])
    datetime.fromisoformat(session["updatedAt"])
    assert "callId" in session
    assert isinstance(session["host"]["name"], str)
    assert isinstance(session["host"]["streamId"], str)
    assert "participant" in session
    if session["participant"] is not None:
        assert isinstance(session["participant"]["name"], str)
        assert isinstance(session["participant"]["streamId"], str)


async def test_frontend_contract_of_active_recent_and_one(client, host) -> None:
    guest = await register(client, name="Frontend Guest")
    live = await create(client, host, problem="Valid Parentheses", difficulty="medium")
    await act(client, guest, live, "join")
    done = await create(client, host, problem="Merge Intervals", difficulty="hard")
    await act(client, guest, done, "join")
    await act(client, host, done, "end")

    active = await get(client, guest, "/api/sessions/active")
    lobby = {s["_id"]: s for s in active.json()["sessions"]}
    assert live["_id"] in lobby and done["_id"] not in lobby
    for session in lobby.values():
        assert_frontend_fields(session)
    assert lobby[live["_id"]]["participant"]["name"] == "Frontend Guest"
    assert lobby[live["_id"]]["callId"] == live["callId"]  # a member sees the call id

    recent = await get(client, guest, "/api/sessions/my-recent")
    assert [s["_id"] for s in recent.json()["sessions"]] == [done["_id"]]
    for session in recent.json()["sessions"]:
        assert_frontend_fields(session)
        assert session["host"]["name"] == "Lister"

    one = await get(client, guest, f"/api/sessions/{live['_id']}")
    assert_frontend_fields(one.json()["session"])
    assert one.json()["session"]["callId"] == f"session-{live['_id']}"
    assert (await get(client, guest, "/api/sessions/active", limit="0")).status_code == 400
