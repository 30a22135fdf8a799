"""The Piston-compatible API on the real runner: a real `runs` worker, real bubblewrap."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import httpx
import pytest

from config import Settings
from tests.support import ROOT, execute, http_client, register, running_app, sandbox_processes

pytestmark = pytest.mark.usefixtures("runner_worker")


@pytest.fixture
async def coder(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client, role="candidate", name="Casey Coder")


async def test_runtimes_come_from_the_installed_binaries(client, coder) -> None:
    response = await client.get("/api/v2/piston/runtimes", headers=coder["headers"])
    assert response.status_code == 200, response.text
    runtimes = {r["language"]: r for r in response.json()}
    assert {"python", "javascript", "c", "cpp", "java"} <= set(runtimes)
    printed = subprocess.run(
        ["/usr/bin/python3", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert runtimes["python"]["version"] in printed
    assert "py" in runtimes["python"]["aliases"]


async def test_runtimes_need_a_token(client) -> None:
    response = await client.get("/api/v2/piston/runtimes")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


async def test_python_hello_world(client, coder) -> None:
    response = await execute(client, coder, "python", "print(1)")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "python" and body["version"]
    assert body["run"]["stdout"] == "1\n"
    assert body["run"]["output"] == "1\n"
    assert body["run"]["code"] == 0 and body["run"]["signal"] is None
    assert body["run"]["status"] is None
    assert "compile" not in body


async def test_c_compiles_then_runs_with_stdin_and_args(client, coder) -> None:
    source = (
        "#include <stdio.h>\nint main(int argc, char **argv) {\n"
        '  char word[32]; scanf("%31s", word);\n'
        '  printf("%s %s %d\\n", word, argv[1], argc);\n  return 0;\n}\n'
    )
    response = await execute(client, coder, "c", source, stdin="hello\n", args=["there"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["compile"]["code"] == 0
    assert body["run"]["stdout"] == "hello there 2\n"


async def test_aliases_and_every_default_language_run(client, coder) -> None:
    programs = {
        "js": "console.log(6 * 7)",
        "c++": "#include <iostream>\nint main(){ std::cout << 6 * 7 << std::endl; }",
        "java": "public class Answer { public static void main(String[] a) "
        "{ System.out.println(6 * 7); } }",
    }
    for language, source in programs.items():
        response = await execute(client, coder, language, source)
        assert response.status_code == 200, response.text
        assert response.json()["run"]["stdout"].strip() == "42", (language, response.json())


async def test_a_compile_error_is_reported_not_run(client, coder) -> None:
    response = await execute(client, coder, "c", "int main( { return 0; }")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["compile"]["code"] not in (0, None)
    assert "error" in body["compile"]["stderr"]
    assert body["run"]["status"] == "XX" and body["run"]["stdout"] == ""


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"language": "cobol", "files": [{"content": "x"}]}, 400, "unknown_language"),
        ({"language": "python", "files": [{"content": "  \n"}]}, 400, "empty_source"),
        ({"language": "python", "files": []}, 400, "validation_error"),
        ({"language": "python"}, 400, "validation_error"),
    ],
)
async def test_bad_input_gets_a_clear_error(client, coder, body, status, code) -> None:
    response = await client.post("/api/v2/piston/execute", json=body, headers=coder["headers"])
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


async def test_a_bad_file_name_is_reported_as_a_failed_run(client, coder) -> None:
    body = {"language": "python", "files": [{"name": "../escape.py", "content": "print(1)"}]}
    response = await client.post("/api/v2/piston/execute", json=body, headers=coder["headers"])
    assert response.status_code == 200, response.text
    assert response.json()["run"]["status"] == "XX"
    assert "relative path" in response.json()["run"]["stderr"]


async def test_rate_limit_per_user_and_source_size(settings: Settings) -> None:
    """A limit of 2 a minute: the third run in the window gets 429 with Retry-After. Sources
    over the size limit get 413 and do not count."""
    limited = settings.model_copy(
        update={"runner_runs_per_minute": 2, "runner_max_source_bytes": 1024}
    )
    async with running_app(limited) as (_app, url), http_client(url) as http:
        user = await register(http)
        too_big = await execute(http, user, "python", "#" * 2000)
        assert too_big.status_code == 413
        assert too_big.json()["error"] == "source_too_large"
        for _ in range(2):
            assert (await execute(http, user, "python", "print(1)")).status_code == 200
        refused = await execute(http, user, "python", "print(1)")
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        other = await register(http)  # the limit is per user
        assert (await execute(http, other, "python", "print(1)")).status_code == 200
    assert not sandbox_processes()


async def test_the_stock_npm_piston_client_works_unchanged(server: str, client, coder) -> None:
    """npm `piston-client` 1.0.2, as published: it calls a self-hosted Piston's paths
    (/api/v2/runtimes, /api/v2/execute), sends its JSON as text/plain and can send no header,
    so the token rides in the server URL as a Basic password."""
    url = server.replace("://", f"://token:{coder['token']}@", 1)
    script = ROOT / "tests" / "clients" / "piston.mjs"
    answer = json.loads(await node(str(script), url, "java", JAVA_SOLUTION))
    assert {r["language"] for r in answer["runtimes"]} >= {"python", "java", "c"}
    result = answer["result"]
    assert result["language"] == "java", result
    # The client sends args ["1", "2", "3"] by default; the frontend's `class Solution` runs.
    assert result["run"]["stdout"] == "Solution got 3 args\n", result

    # Without the token in the URL the same client is refused (its body is the error).
    anonymous = json.loads(await node(str(script), server, "python", "print(1)"))
    assert anonymous["runtimes"]["error"] == "unauthorized"
    assert "run" not in anonymous["result"]


async def node(*args: str) -> str:
    """Run a Node script without blocking the loop the server under test runs on."""
    proc = await asyncio.create_subprocess_exec(
        "node", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    return output.decode()


JAVA_SOLUTION = (
    "class Solution {\n"
    "  public static void main(String[] args) {\n"
    '    System.out.println("Solution got " + args.length + " args");\n'
    "  }\n"
    "}\n"
)


async def test_json_sent_as_text_plain_and_basic_token(client, coder) -> None:
    import base64

    body = json.dumps({"language": "python", "files": [{"content": "print(7)"}]})
    basic = base64.b64encode(f"token:{coder['token']}".encode()).decode()
    for path in ("/api/v2/execute", "/api/v2/piston/execute"):
        answer = await client.post(
            path,
            content=body,
            headers={"Content-Type": "text/plain;charset=UTF-8", "Authorization": f"Basic {basic}"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["run"]["stdout"] == "7\n"
    # Other routes still want JSON declared as JSON, and a Bearer header.
    refused = await client.post(
        "/api/sessions",
        content='{"title": "x"}',
        headers={**coder["headers"], "Content-Type": "text/plain"},
    )
    assert refused.status_code == 415
    wrong = await client.get("/api/auth/me", headers={"Authorization": f"Basic {basic}"})
    assert wrong.status_code == 401
