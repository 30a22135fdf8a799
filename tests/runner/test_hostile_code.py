"""Hostile code on the real runner: each ends as a clean, reported run, and afterwards the
machine is as it was (the runner answers, no process of a sandbox uid is left)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest

from config import Settings
from tests.support import ROOT, execute, register, sandbox_processes

pytestmark = pytest.mark.usefixtures("runner_worker")

FORK_BOMB = (
    "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
)
MEMORY_BOMB = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))\n"
HUGE_FILE = "with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))\n"
ENDLESS_PRINT = "while True:\n    print('spam' * 100)\n"
OUTLIVE = (
    "import subprocess\n"
    "subprocess.Popen(['/bin/sleep', '60'], start_new_session=True)\n"
    "print('parent done')\n"
)
NETWORK = (
    "import socket\n"
    "for host in ('127.0.0.1', '1.1.1.1'):\n"
    "    try:\n"
    "        socket.create_connection((host, {port}), 2)\n"
    "        print('CONNECTED', host)\n"
    "    except OSError as exc:\n"
    "        print('refused', host, exc.errno)\n"
)
READ_SECRETS = (
    "import os\n"
    "for path in ('/etc/shadow', {env!r}, '/proc/1/environ', '/proc/self/environ'):\n"
    "    try:\n"
    "        print(path, repr(open(path).read()))\n"
    "    except OSError as exc:\n"
    "        print(path, 'unreadable', exc.errno)\n"
    "print(dict(os.environ))\n"
)
KILL_OTHERS = (
    "import os, signal\n"
    "for pid in range(1, 5000):\n"
    "    try:\n"
    "        os.kill(pid, signal.SIGKILL)\n"
    "    except OSError:\n"
    "        pass\n"
    "print('survived')\n"
)


@pytest.fixture
async def attacker(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client, name="Mallory")


async def test_limits_end_hostile_programs_with_a_clear_status(client, attacker) -> None:
    cases = {
        "fork bomb": ("python", FORK_BOMB, "TO"),
        "infinite loop": ("python", "while True:\n    pass\n", "TO"),
        "sleep past the limit": ("python", "import time\ntime.sleep(30)\n", "TO"),
        "memory bomb": ("python", MEMORY_BOMB, "ML"),
        "java memory bomb": (
            "java",
            "public class Main { public static void main(String[] a) { java.util.List<long[]> "
            "l = new java.util.ArrayList<>(); while (true) l.add(new long[1 << 20]); } }",
            "ML",
        ),
        "huge file": ("python", HUGE_FILE, "OL"),
        "endless print": ("python", ENDLESS_PRINT, "OL"),
        "C fork bomb": ("c", "#include <unistd.h>\nint main(){ for(;;) fork(); }", "TO"),
    }
    responses = await asyncio.gather(
        *(execute(client, attacker, lang, source) for lang, source, _ in cases.values())
    )
    for (name, (_, _, want)), response in zip(cases.items(), responses, strict=True):
        assert response.status_code == 200, (name, response.text)
        run = response.json()["run"]
        assert run["status"] == want, (name, run)
        if want == "OL" and name == "endless print":
            assert run["truncated"] is True
            assert len(run["stdout"].encode()) <= 64 * 1024
        if want == "TO":
            assert run["signal"] == "SIGKILL"
            assert run["wall_time"] < 10_000
    assert not sandbox_processes()


async def test_no_process_outlives_its_run(client, attacker) -> None:
    response = await execute(client, attacker, "python", OUTLIVE)
    assert response.status_code == 200
    assert response.json()["run"]["stdout"] == "parent done\n"
    assert not sandbox_processes()


async def test_no_network_at_all(client, attacker, settings: Settings) -> None:
    redis_port = int(settings.redis_url.rsplit(":", 1)[1].split("/")[0])
    response = await execute(client, attacker, "python", NETWORK.format(port=redis_port))
    out = response.json()["run"]["stdout"]
    assert "CONNECTED" not in out
    assert out.count("refused") == 2


async def test_secrets_are_out_of_reach(client, attacker, settings: Settings) -> None:
    env_file = str(ROOT / ".env")
    response = await execute(client, attacker, "python", READ_SECRETS.format(env=env_file))
    run = response.json()["run"]
    assert run["code"] == 0, run
    out = run["stdout"]
    assert "/etc/shadow unreadable" in out
    assert f"{env_file} unreadable" in out
    for secret in (settings.jwt_secret, settings.stream_api_secret, settings.mongodb_uri):
        assert secret not in out
    for name in ("JWT_SECRET", "MONGODB_URI", "REDIS_URL", "STREAM_API_SECRET"):
        assert name not in out
    assert "/proc/1/environ ''" in out  # the sandbox's PID 1 (bwrap) has no environment
    assert os.environ.get("PATH", "") not in out or os.environ.get("PATH") == "/usr/bin:/bin"


async def test_killing_other_processes_hurts_nobody(client, attacker, server) -> None:
    response = await execute(client, attacker, "python", KILL_OTHERS)
    run = response.json()["run"]
    assert response.status_code == 200, response.text
    # It can see only its own PID namespace: it may kill itself, nothing else.
    assert run["status"] in ("SG", None)
    after = await execute(client, attacker, "python", "print('still here')")
    assert after.json()["run"]["stdout"] == "still here\n"
    assert (await client.get("/api/health")).status_code == 200


async def test_a_normal_run_still_succeeds_afterwards(client, attacker) -> None:
    response = await execute(client, attacker, "python", "print(sum(range(10)))")
    assert response.json()["run"]["stdout"] == "45\n"
    assert not sandbox_processes()
