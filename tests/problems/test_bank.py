"""An organization's question bank over HTTP, on the real runner: versions, what a session pins,
what a candidate sees, judging against the pinned version (hidden tests, limits, a checker),
copying from the public library, and the audit entries of each change."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from bson import ObjectId
from odmantic import AIOEngine

from tests.orgs.test_orgs import audit_types, join, new_org
from tests.runner.test_session_runs import finished, submit
from tests.support import register
from tq.problems.models import Problem, ProblemVersion

pytestmark = pytest.mark.usefixtures("runner_worker", "celery_worker")

ADD = "a, b = map(int, input().split())\nprint(a + b)\n"
# Right on the sample (1 2), wrong on anything bigger: a hidden test catches it.
ADD_SAMPLE_ONLY = "a, b = map(int, input().split())\nprint(3 if (a, b) == (1, 2) else a - b)\n"
# Prints its input back: a hidden test's input must not come back through the run.
ECHO = "import sys\nprint(sys.stdin.read())\n"
SECRET_INPUT = "424242 171717\n"


def add_problem(slug: str = "add", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "slug": slug,
        "title": "Add two numbers",
        "statement": "Read *a* and *b*; print their sum.",
        "difficulty": "Easy",
        "tags": ["math"],
        "tests": [
            {"name": "one", "input": "1 2\n", "answer": "3\n", "sample": True},
            {"name": "big", "input": SECRET_INPUT, "answer": "595959\n"},
            {"name": "neg", "input": "-5 3\n", "answer": "-2\n"},
        ],
        "timeLimitS": 2,
        "memoryMb": 128,
        "starterCode": {"python": "a, b = map(int, input().split())\n"},
    }
    return body | extra


@pytest.fixture
async def team(client: httpx.AsyncClient) -> dict[str, Any]:
    owner = await register(client, role="interviewer", name="Olga Owner")
    org = await new_org(client, owner, name="Bank team")
    interviewer = await join(client, owner, org, "interviewer")
    recruiter = await join(client, owner, org, "recruiter")
    outsider = await register(client, role="interviewer", name="Otto Outsider")
    return {
        "org": org,
        "owner": owner,
        "interviewer": interviewer,
        "recruiter": recruiter,
        "outsider": outsider,
        "bank": f"/api/orgs/{org['_id']}/problems",
    }


async def session_with(
    http: httpx.AsyncClient, team: dict[str, Any], problem_ref: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A session of the team pinning `problem_ref`, with a candidate in it."""
    created = await http.post(
        f"/api/orgs/{team['org']['_id']}/sessions",
        json={"title": "Bank interview", "problemId": problem_ref, "language": "python"},
        headers=team["interviewer"]["headers"],
    )
    assert created.status_code == 201, created.text
    session = created.json()["session"]
    candidate = await register(http, role="candidate", name="Cara Candidate")
    joined = await http.post(f"/api/sessions/{session['_id']}/join", headers=candidate["headers"])
    assert joined.status_code == 200, joined.text
    return session, candidate


async def test_versions_pins_and_what_a_candidate_sees(
    client: httpx.AsyncClient, team: dict[str, Any], engine: AIOEngine
) -> None:
    bank, owner = team["bank"], team["owner"]
    created = await client.post(bank, json=add_problem(), headers=team["interviewer"]["headers"])
    assert created.status_code == 201, created.text
    v1 = created.json()["problem"]
    assert v1["version"] == 1 and v1["comparison"] == "tokens"
    assert [t["name"] for t in v1["tests"]] == ["sample/one", "secret/big", "secret/neg"]
    again = await client.post(bank, json=add_problem(), headers=owner["headers"])
    assert again.status_code == 409 and again.json()["error"] == "problem_exists"

    session, candidate = await session_with(client, team, "add")
    # The candidate is nobody in the organization: its bank does not exist for them.
    for url in (bank, f"{bank}/add", f"{bank}/add/versions/1", f"{bank}/add/export"):
        hidden = await client.get(url, headers=candidate["headers"])
        assert hidden.status_code == 404 and hidden.json()["error"] == "org_not_found", url
    seen = await client.get(f"/api/sessions/{session['_id']}/problem", headers=candidate["headers"])
    assert seen.status_code == 200, seen.text
    pinned = seen.json()["problem"]
    assert pinned["version"] == 1 and pinned["samples"] == [{"input": "1 2\n", "output": "3\n"}]
    assert pinned["testCount"] == 3 and pinned["timeLimitS"] == 2
    assert SECRET_INPUT.strip() not in seen.text and "595959" not in seen.text

    # An edit is version 2; the session still shows and judges version 1.
    changed = await client.patch(
        f"{bank}/add",
        json={
            "title": "Add two numbers, again",
            "tests": [{"input": "2 2\n", "answer": "4\n", "sample": True}],
        },
        headers=owner["headers"],
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["problem"]["version"] == 2
    still = (
        await client.get(f"/api/sessions/{session['_id']}/problem", headers=candidate["headers"])
    ).json()["problem"]
    assert still == pinned
    wrong_on_hidden = await submit(
        client, candidate, session, language="python", source=ADD_SAMPLE_ONLY, problemId="add"
    )
    assert wrong_on_hidden.status_code == 202, wrong_on_hidden.text
    run = await finished(client, candidate, wrong_on_hidden.json()["run"])
    # Judged against version 1: its sample passes, its hidden test does not.
    assert run["verdict"] == "wrong_answer", run
    assert [t["passed"] for t in run["tests"]] == [True, False]
    hidden_test = run["tests"][1]
    assert hidden_test["hidden"], hidden_test
    assert all(hidden_test.get(k) is None for k in ("input", "expected", "actual", "timeMs"))
    right = await submit(client, candidate, session, language="python", source=ADD, problemId="add")
    assert (await finished(client, candidate, right.json()["run"]))["verdict"] == "accepted"
    echo = await submit(client, candidate, session, language="python", source=ECHO, problemId="add")
    echoed = await finished(client, candidate, echo.json()["run"])
    assert echoed["verdict"] == "wrong_answer" and SECRET_INPUT.strip() not in str(echoed)

    # A new session pins the current version; `slug@1` pins the old one.
    later, _ = await session_with(client, team, "add")
    assert (
        await client.get(f"/api/sessions/{later['_id']}/problem", headers=owner["headers"])
    ).json()["problem"]["version"] == 2
    old, _ = await session_with(client, team, "add@1")
    assert (
        await client.get(f"/api/sessions/{old['_id']}/problem", headers=owner["headers"])
    ).json()["problem"]["version"] == 1
    unknown = await client.post(
        f"/api/orgs/{team['org']['_id']}/sessions",
        json={"title": "x", "problemId": "add@9"},
        headers=owner["headers"],
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_problem"

    versions = (await client.get(f"{bank}/add/versions", headers=owner["headers"])).json()
    assert [v["version"] for v in versions["versions"]] == [2, 1]
    listed = (await client.get(bank, headers=team["recruiter"]["headers"])).json()
    assert [(p["slug"], p["version"]) for p in listed["problems"]] == [("add", 2)]

    # Deleted: out of the bank, its versions kept for the sessions that pinned them.
    assert (await client.delete(f"{bank}/add", headers=owner["headers"])).status_code == 204
    assert (await client.get(f"{bank}/add", headers=owner["headers"])).status_code == 404
    assert (await client.get(f"{bank}/add/versions/1", headers=owner["headers"])).status_code == 200
    kept = await client.get(f"/api/sessions/{session['_id']}/problem", headers=candidate["headers"])
    assert kept.json()["problem"] == pinned
    # A new problem of the same slug continues the numbers: slug@version names one thing.
    recreated = await client.post(bank, json=add_problem(), headers=owner["headers"])
    assert recreated.json()["problem"]["version"] == 3
    org_id = team["org"]["_id"]
    stored = await engine.get_collection(ProblemVersion).count_documents({"slug": "add"})
    assert stored == 3
    assert await engine.get_collection(Problem).count_documents({"slug": "add"}) >= 1

    types = [e["type"] for e in await audit_types(client, owner, {"_id": org_id})]
    assert types.count("problem.created") == 2 and "problem.updated" in types
    assert "problem.deleted" in types


async def test_who_may_touch_the_bank(client: httpx.AsyncClient, team: dict[str, Any]) -> None:
    bank = team["bank"]
    refused = await client.post(bank, json=add_problem(), headers=team["recruiter"]["headers"])
    assert refused.status_code == 403 and refused.json()["error"] == "org_role_forbids"
    assert (await client.get(bank, headers=team["recruiter"]["headers"])).status_code == 200
    outside = await client.post(bank, json=add_problem(), headers=team["outsider"]["headers"])
    assert outside.status_code == 404 and outside.json()["error"] == "org_not_found"
    assert (await client.get(bank, headers=team["outsider"]["headers"])).status_code == 404


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"timeLimitS": 99}, "limit_out_of_range"),
        ({"memoryMb": 999_999}, "limit_out_of_range"),
        ({"validatorFlags": ["float_tolerance"]}, "invalid_validator_flags"),
        ({"validatorFlags": ["rm", "-rf"]}, "invalid_validator_flags"),
        (
            {"checker": {"language": "cobol", "files": [{"name": "v.cob", "content": "x"}]}},
            "unknown_language",
        ),
        ({"starterCode": {"brainfuck": "+"}}, "unknown_language"),
        (
            {
                "tests": [
                    {"name": "a", "input": "1", "answer": "1"},
                    {"name": "a", "input": "2", "answer": "2"},
                ]
            },
            "duplicate_test",
        ),
        ({"tests": []}, "validation_error"),
        ({"slug": "../etc"}, "validation_error"),
        ({"title": "line\nbreak"}, "validation_error"),
    ],
)
async def test_a_bad_problem_is_a_clear_4xx(
    client: httpx.AsyncClient, team: dict[str, Any], change: dict[str, Any], code: str
) -> None:
    response = await client.post(
        team["bank"], json=add_problem() | change, headers=team["owner"]["headers"]
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"] == code, response.text
    assert (await client.get(team["bank"], headers=team["owner"]["headers"])).json()[
        "problems"
    ] == []


CHECKER = (
    "import sys\n"
    "n = int(open(sys.argv[1]).read())\n"
    "out = sys.stdin.read().split()\n"
    "ok = len(out) == 1 and out[0].lstrip('-').isdigit() and 1 < int(out[0]) < n "
    "and n % int(out[0]) == 0\n"
    "sys.exit(42 if ok else 43)\n"
)
SMALLEST = "n = int(input())\nprint(next(d for d in range(2, n) if n % d == 0))\n"
LARGEST = "n = int(input())\nprint(max(d for d in range(2, n) if n % d == 0))\n"


async def test_a_checker_judges_answers_with_more_than_one_right_output(
    client: httpx.AsyncClient, team: dict[str, Any]
) -> None:
    body = add_problem(
        "divisor",
        title="Any divisor",
        tests=[
            {"input": "12\n", "answer": "2\n", "sample": True},
            {"input": "91\n", "answer": "7\n"},
        ],
        checker={"language": "python", "files": [{"name": "validator.py", "content": CHECKER}]},
    )
    created = await client.post(team["bank"], json=body, headers=team["owner"]["headers"])
    assert created.status_code == 201, created.text
    session, candidate = await session_with(client, team, "divisor")
    verdicts = []
    for source in (SMALLEST, LARGEST, "print(1)\n"):
        queued = await submit(
            client, candidate, session, language="python", source=source, problemId="divisor"
        )
        verdicts.append((await finished(client, candidate, queued.json()["run"]))["verdict"])
    # The largest divisor (6, 13) is not the answer file's (2, 7): the checker accepts it.
    assert verdicts == ["accepted", "accepted", "wrong_answer"]


async def test_a_library_problem_copied_into_the_bank(
    client: httpx.AsyncClient, team: dict[str, Any]
) -> None:
    copied = await client.post(
        f"{team['bank']}/copy", json={"slug": "two-sum"}, headers=team["interviewer"]["headers"]
    )
    assert copied.status_code == 201, copied.text
    problem = copied.json()["problem"]
    assert problem["origin"] == "library" and problem["comparison"] == "lines"
    assert sum(t["sample"] for t in problem["tests"]) == 2
    assert len(problem["tests"]) > 2 and "python" in problem["starterCode"]
    missing = await client.post(
        f"{team['bank']}/copy", json={"slug": "nope"}, headers=team["owner"]["headers"]
    )
    assert missing.status_code == 404
    session, candidate = await session_with(client, team, "two-sum")
    from tests.runner.test_session_runs import TWO_SUM

    queued = await submit(
        client, candidate, session, language="python", source=TWO_SUM, problemId="two-sum"
    )
    run = await finished(client, candidate, queued.json()["run"])
    assert run["verdict"] == "accepted" and len(run["tests"]) == len(problem["tests"])


async def test_a_deleted_organization_takes_its_bank_but_not_what_sessions_pinned(
    client: httpx.AsyncClient, team: dict[str, Any], engine: AIOEngine
) -> None:
    owner = team["owner"]
    created = await client.post(team["bank"], json=add_problem(), headers=owner["headers"])
    assert created.status_code == 201, created.text
    session, candidate = await session_with(client, team, "add")
    gone = await client.delete(f"/api/orgs/{team['org']['_id']}", headers=owner["headers"])
    assert gone.status_code == 204, gone.text
    org_id = ObjectId(team["org"]["_id"])
    assert await engine.get_collection(Problem).count_documents({"orgId": org_id}) == 0
    kept = await client.get(f"/api/sessions/{session['_id']}/problem", headers=candidate["headers"])
    assert kept.status_code == 200 and kept.json()["problem"]["slug"] == "add"


async def test_edits_at_once_never_undo_each_other(
    client: httpx.AsyncClient, team: dict[str, Any]
) -> None:
    bank, owner = team["bank"], team["owner"]
    assert (
        await client.post(bank, json=add_problem(), headers=owner["headers"])
    ).status_code == 201
    answers = await asyncio.gather(
        *(
            client.patch(f"{bank}/add", json={"tags": [f"edit{i}"]}, headers=owner["headers"])
            for i in range(6)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {200, 409}, [a.text for a in answers]
    written = [a.json()["problem"] for a in answers if a.status_code == 200]
    # Each success is its own version, made from the one before it: none was overwritten.
    assert len({p["version"] for p in written}) == len(written)
    current = (await client.get(f"{bank}/add", headers=owner["headers"])).json()["problem"]
    assert current["version"] == 1 + len(written)
    versions = (await client.get(f"{bank}/add/versions", headers=owner["headers"])).json()
    assert [v["version"] for v in versions["versions"]] == list(range(1 + len(written), 0, -1))


async def test_limits_of_versions_and_judging(
    client: httpx.AsyncClient, team: dict[str, Any]
) -> None:
    bank, owner = team["bank"], team["owner"]
    assert (
        await client.post(bank, json=add_problem(), headers=owner["headers"])
    ).status_code == 201
    for version in ("0", "99999999999999999999", "-1"):
        far = await client.get(f"{bank}/add/versions/{version}", headers=owner["headers"])
        assert far.status_code == 404, (version, far.text)
    # 20 tests of 10 s could hold a runner for 200 s: more than PROBLEM_MAX_JUDGE_S.
    slow = add_problem(
        "slow",
        timeLimitS=10,
        tests=[{"name": f"t{i}", "input": "1 2\n", "answer": "3\n"} for i in range(20)],
    )
    refused = await client.post(bank, json=slow, headers=owner["headers"])
    assert refused.status_code == 400 and refused.json()["error"] == "judging_too_long"
