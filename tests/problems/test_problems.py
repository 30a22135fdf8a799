"""The problem bank over HTTP: listed, one problem with starter code, hidden tests not shown."""

from __future__ import annotations

from tests.support import register


async def test_the_problem_bank(client) -> None:
    headers = (await register(client))["headers"]
    listed = (await client.get("/api/problems", headers=headers)).json()["problems"]
    slugs = {p["slug"] for p in listed}
    assert {
        "two-sum",
        "reverse-string",
        "valid-palindrome",
        "maximum-subarray",
        "container-with-most-water",
        "trapping-rain-water",
        "n-queens",
    } <= slugs
    problem = (await client.get("/api/problems/two-sum", headers=headers)).json()["problem"]
    assert problem["difficulty"] == "Easy" and problem["examples"][0]["output"] == "0 1"
    assert {"python", "javascript", "java", "c", "cpp"} <= set(problem["starterCode"])
    assert problem["testCount"] > len(problem["examples"])
    assert "tests" not in problem and "hidden" not in str(problem).lower().replace(
        "hidden tests", ""
    )
    assert (await client.get("/api/problems/nope", headers=headers)).status_code == 404
