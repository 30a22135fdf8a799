"""Runs in a session: members only, queued then finished by the real runner, judged against the
problem bank, announced on the session's Stream channel."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes.stream import FakeStream
from tests.support import act, create, register, wait_until

pytestmark = pytest.mark.usefixtures("runner_worker", "celery_worker")

TWO_SUM = (
    "nums = list(map(int, input().split()))\ntarget = int(input())\nseen = {}\n"
    "for i, n in enumerate(nums):\n"
    "    if target - n in seen:\n"
    "        print(seen[target - n], i)\n"
    "        break\n"
    "    seen.setdefault(n, i)\n"
)
# Right on the examples, wrong whenever the pair is not adjacent.
TWO_SUM_ADJACENT = (
    "nums = list(map(int, input().split()))\ntarget = int(input())\n"
    "for i in range(len(nums) - 1):\n"
    "    if nums[i] + nums[i + 1] == target:\n"
    "        print(i, i + 1)\n"
    "        break\n"
    "else:\n"
    "    print(0, 1)\n"
)


@pytest.fixture
async def room(client: httpx.AsyncClient) -> dict[str, Any]:
    host = await register(client, role="interviewer", name="Hana Host")
    candidate = await register(client, role="candidate", name="Cara Candidate")
    outsider = await register(client, name="Olly Outsider")
    session = await create(client, host, title="Pairing", language="python")
    assert (await act(client, candidate, session, "join")).status_code == 200
    return {"host": host, "candidate": candidate, "outsider": outsider, "session": session}


async def submit(http: httpx.AsyncClient, who: dict[str, Any], session: dict[str, Any], **body):
    return await http.post(
        f"/api/sessions/{session['_id']}/runs", json=body, headers=who["headers"]
    )


async def finished(http: httpx.AsyncClient, who: dict[str, Any], run: dict[str, Any]):
    url = f"/api/sessions/{run['sessionId']}/runs/{run['_id']}"

    async def done() -> dict[str, Any] | None:
        body = (await http.get(url, headers=who["headers"])).json()["run"]
        return body if body["status"] in ("completed", "failed") else None

    result: dict[str, Any] = await wait_until(done, timeout=60, interval=0.1)  # type: ignore[assignment]
    return result


async def test_a_member_runs_code_and_both_see_it(client, room, fake_stream: FakeStream) -> None:
    response = await submit(
        client,
        room["candidate"],
        room["session"],
        language="python",
        source="print(input()*2)",
        stdin="ab\n",
    )
    assert response.status_code == 202, response.text
    queued = response.json()["run"]
    assert queued["status"] == "queued" and queued["verdict"] is None
    assert queued["userId"] == room["candidate"]["user"]["_id"]
    run = await finished(client, room["host"], queued)  # the host reads the candidate's run
    assert run["status"] == "completed" and run["verdict"] == "ok"
    assert run["stdout"] == "abab\n" and run["exitCode"] == 0
    assert run["startedAt"] and run["finishedAt"] and run["timeMs"] >= 0
    assert run["version"] and run["memoryKb"] is None

    channel = room["session"]["streamChannelId"]
    events = await wait_until(
        lambda: [e for e in fake_stream.events(channel) if e["run"]["id"] == run["_id"]],
        timeout=30,
    )
    event = events[0]  # type: ignore[index]
    assert event["type"] == "run.completed"
    assert event["run"]["status"] == "completed" and event["run"]["preview"] == "abab\n"
    assert event["user"]["id"] == room["candidate"]["user"]["streamId"]


async def test_outsiders_see_nothing(client, room) -> None:
    session = room["session"]
    response = await submit(client, room["outsider"], session, language="python", source="1")
    assert response.status_code == 404
    listed = await client.get(
        f"/api/sessions/{session['_id']}/runs", headers=room["outsider"]["headers"]
    )
    assert listed.status_code == 404


async def test_runs_are_listed_newest_first_with_a_cursor(client, room) -> None:
    session, host = room["session"], room["host"]
    ids = []
    for n in range(3):
        response = await submit(client, host, session, language="python", source=f"print({n})")
        ids.append(response.json()["run"]["_id"])
    url = f"/api/sessions/{session['_id']}/runs"
    first = (await client.get(url, params={"limit": 2}, headers=host["headers"])).json()
    assert [r["_id"] for r in first["runs"]] == [ids[2], ids[1]]
    assert first["nextCursor"] == ids[1]
    second = (
        await client.get(
            url, params={"limit": 2, "before": first["nextCursor"]}, headers=host["headers"]
        )
    ).json()
    assert [r["_id"] for r in second["runs"]] == [ids[0]]
    assert second["nextCursor"] is None
    bad = await client.get(url, params={"before": "nope"}, headers=host["headers"])
    assert bad.status_code == 400
    missing = await client.get(f"{url}/{'0' * 24}", headers=host["headers"])
    assert missing.status_code == 404 and missing.json()["error"] == "run_not_found"


async def test_accepted_against_every_test(client, room) -> None:
    response = await submit(
        client,
        room["candidate"],
        room["session"],
        language="python",
        source=TWO_SUM,
        problemId="two-sum",
    )
    run = await finished(client, room["candidate"], response.json()["run"])
    assert run["verdict"] == "accepted", run
    assert run["tests"] and all(test["passed"] for test in run["tests"])
    assert any(test["hidden"] for test in run["tests"])
    # A hidden test's time would tell its input (a solution can sleep in proportion to it):
    # none is reported, and the run's total counts the visible tests only.
    assert all(test["timeMs"] is None for test in run["tests"] if test["hidden"])
    visible = [test["timeMs"] for test in run["tests"] if not test["hidden"]]
    assert all(isinstance(ms, int) for ms in visible) and run["timeMs"] == sum(visible)


async def test_wrong_answer_on_a_hidden_test_shows_nothing_of_it(client, room) -> None:
    response = await submit(
        client,
        room["candidate"],
        room["session"],
        language="python",
        source=TWO_SUM_ADJACENT,
        problemId="two-sum",
    )
    run = await finished(client, room["candidate"], response.json()["run"])
    assert run["verdict"] == "wrong_answer", run
    failing = run["tests"][-1]
    assert failing["hidden"] is True and failing["passed"] is False
    assert failing["input"] is None and failing["expected"] is None and failing["actual"] is None
    assert failing["timeMs"] is None
    shown = [test for test in run["tests"] if not test["hidden"]]
    assert shown and all(test["expected"] is not None for test in shown)


async def test_compile_error_and_time_limit_verdicts(client, room) -> None:
    broken = await submit(
        client,
        room["host"],
        room["session"],
        language="c",
        source="int main( {",
        problemId="reverse-string",
    )
    slow = await submit(
        client,
        room["host"],
        room["session"],
        language="python",
        source="while True:\n    pass\n",
        problemId="reverse-string",
    )
    broken_run = await finished(client, room["host"], broken.json()["run"])
    assert broken_run["verdict"] == "compile_error" and "error" in broken_run["stderr"]
    slow_run = await finished(client, room["host"], slow.json()["run"])
    assert slow_run["verdict"] == "time_limit" and slow_run["signal"] == "SIGKILL"
    assert len(slow_run["tests"]) == 1  # judging stops at the first failure


async def test_a_judged_c_solution(client, room) -> None:
    source = (
        "#include <stdio.h>\n#include <string.h>\nint main(void) {\n"
        "  static char s[200000]; if (!fgets(s, sizeof s, stdin)) return 0;\n"
        '  size_t n = strcspn(s, "\\n");\n'
        "  for (size_t i = n; i > 0; i--) putchar(s[i - 1]);\n  putchar('\\n');\n}\n"
    )
    response = await submit(
        client,
        room["host"],
        room["session"],
        language="c",
        source=source,
        problemId="reverse-string",
    )
    run = await finished(client, room["host"], response.json()["run"])
    assert run["verdict"] == "accepted", run


async def test_closed_sessions_and_bad_input_are_refused(client, room) -> None:
    session, host = room["session"], room["host"]
    unknown = await submit(client, host, session, language="python", source="1", problemId="nope")
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_problem"
    empty = await submit(client, host, session, language="python", source="")
    assert empty.status_code == 400 and empty.json()["error"] == "empty_source"
    language = await submit(client, host, session, language="brainfuck", source="+")
    assert language.status_code == 400 and language.json()["error"] == "unknown_language"
    extra = await submit(client, host, session, language="python", source="1", shell=True)
    assert extra.status_code == 400 and extra.json()["error"] == "validation_error"
    assert (await act(client, host, session, "end")).status_code == 200
    closed = await submit(client, host, session, language="python", source="print(1)")
    assert closed.status_code == 409 and closed.json()["error"] == "session_closed"
