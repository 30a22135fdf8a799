"""The sandbox's limits hold for every language, through the real runner: memory (a cgroup per
run), every writable mount capped or read-only, a seccomp filter, strict file names that leave
nothing behind, and the file names and class names real clients send."""

from __future__ import annotations

import asyncio
import glob
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import execute, register, sandbox_processes

pytestmark = pytest.mark.usefixtures("runner_worker")

# Each touches 1,200 MB, far past RUNNER_MEMORY_MB (256 in the tests), the way its runtime
# allocates outside any heap flag: off-heap buffers, a plain vector, a byte slice.
MEMORY_HOGS = {
    "python": "b = bytearray(1200 << 20)\nprint(len(b))",
    "javascript": "const b = Buffer.alloc(1200 * 1024 * 1024, 1); console.log(b.length)",
    "c": (
        "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
        "int main(){ size_t n = 1200UL << 20; char *p = malloc(n);"
        ' if (!p) { fputs("out of memory\\n", stderr); return 3; }'
        ' memset(p, 1, n); printf("%d\\n", p[n - 1]); }'
    ),
    "cpp": (
        "#include <vector>\n#include <cstdio>\n"
        'int main(){ std::vector<char> v(1200UL << 20, 1); std::printf("%d\\n", v.back()); }'
    ),
    "java": (
        "import java.nio.ByteBuffer;\n"
        "class Hog { public static void main(String[] a) {"
        " ByteBuffer[] bs = new ByteBuffer[20];"
        " for (int i = 0; i < 20; i++) { bs[i] = ByteBuffer.allocateDirect(60 << 20);"
        " for (int j = 0; j < (60 << 20); j += 4096) bs[i].put(j, (byte) 1); }"
        ' System.out.println("done"); } }'
    ),
    "go": (
        'package main\nimport "fmt"\n'
        "func main() { b := make([]byte, 1200<<20); for i := range b { b[i] = 1 };"
        " fmt.Println(len(b)) }"
    ),
    "rust": (
        "fn main() { let v = vec![1u8; 1200 << 20];"
        ' println!("{}", v.iter().map(|&x| x as u64).sum::<u64>()); }'
    ),
    "ruby": "s = 'x' * (1200 << 20)\nputs s.size",
    "php": "<?php $s = str_repeat('x', 1200 << 20); echo strlen($s);",
}


@pytest.fixture
async def coder(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client, name="Hog")


@pytest.mark.parametrize("language", sorted(MEMORY_HOGS))
async def test_memory_limit_holds_for_every_language(client, coder, language: str) -> None:
    answer = await execute(client, coder, language, MEMORY_HOGS[language])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "compile" not in body or body["compile"]["code"] == 0, body["compile"]
    run = body["run"]
    # Whatever the runtime prints, it never finishes with the memory in hand.
    assert run["code"] != 0 and "1258291200" not in run["stdout"], run
    assert run["status"] == "ML", run


async def test_root_and_dev_are_read_only_and_dev_shm_is_capped(client, coder) -> None:
    source = (
        "import os\n"
        "for path in ('/big', '/dev/big', '/usr/big', '/dev/shm/big', '/tmp/big'):\n"
        "    try:\n"
        "        with open(path, 'wb') as f:\n"
        "            for _ in range(600):\n"
        "                f.write(b'x' * (1 << 20))\n"
        "        print(path, 'wrote 600 MB')\n"
        "    except OSError as exc:\n"
        "        print(path, exc.errno)\n"
    )
    run = (await execute(client, coder, "python", source)).json()["run"]
    lines = dict(line.split(" ", 1) for line in run["stdout"].splitlines())
    assert lines["/big"] == "30" and lines["/dev/big"] == "30" and lines["/usr/big"] == "30"
    assert lines["/dev/shm/big"] == "27" and lines["/tmp/big"] == "27"  # EFBIG at the cap
    assert "wrote" not in run["stdout"]


async def test_seccomp_denies_the_kernels_riskiest_calls(client, coder) -> None:
    source = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for name, nr in (('io_uring_setup', 425), ('perf_event_open', 298),"
        " ('add_key', 248), ('keyctl', 250), ('bpf', 321), ('userfaultfd', 323),"
        " ('unshare', 272), ('ptrace', 101)):\n"
        "    ctypes.set_errno(0)\n"
        "    result = libc.syscall(nr, 0, 0, 0, 0, 0)\n"
        "    print(name, result, ctypes.get_errno())\n"
        "print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])\n"
    )
    run = (await execute(client, coder, "python", source)).json()["run"]
    lines = run["stdout"].splitlines()
    assert lines[-1] == "2", run  # SECCOMP_MODE_FILTER
    results = {line.split()[0]: line.split()[1:] for line in lines[:-1]}
    assert results["io_uring_setup"] == ["-1", "38"]  # ENOSYS: runtimes fall back cleanly
    for name in ("perf_event_open", "add_key", "keyctl", "bpf", "userfaultfd", "unshare"):
        assert results[name] == ["-1", "1"], (name, results)  # EPERM


def _leftovers() -> set[str]:
    base = tempfile.gettempdir()
    return set(glob.glob(os.path.join(base, "tq-run-*"))) | set(
        glob.glob(os.path.join(base, "tq-slot-*", "tq-run-*"))
    )


@pytest.mark.parametrize("name", [".", "-c", "--version", "a/-x.py", "a/./b.py", ".program", ""])
async def test_refused_file_names_answer_at_once_and_leave_nothing(client, coder, name) -> None:
    before = _leftovers()
    files = [{"name": "main.py", "content": "print(1)"}, {"name": name, "content": "x"}]
    if name == "":
        files = [{"name": "ok.py", "content": "print(1)"}, {"name": "ok.py", "content": "x"}]
    body = {"language": "python", "version": "*", "files": files}
    answer = await client.post(
        "/api/v2/piston/execute", json=body, headers=coder["headers"], timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["run"]["status"] == "XX"
    assert _leftovers() <= before
    assert not sandbox_processes()


@pytest.mark.parametrize(
    ("language", "name", "source", "expected"),
    [
        (
            "java",
            "main.java",
            "class Solution { public static void main(String[] a) {"
            ' System.out.println("java " + a.length); } }',
            "java 0",
        ),
        (
            "java",
            "Main.java",
            "class Helper { static int two() { return 2; } }\n"
            "public class Main { public static void main(String[] a) {"
            " System.out.println(Helper.two()); } }",
            "2",
        ),
        ("c", "main", '#include <stdio.h>\nint main(){ puts("c"); }', "c"),
        ("cpp", "solution", '#include <cstdio>\nint main(){ std::puts("cpp"); }', "cpp"),
        ("rust", "main", 'fn main() { println!("rust"); }', "rust"),
        ("go", "prog", 'package main\nimport "fmt"\nfunc main() { fmt.Println("go") }', "go"),
        ("python", "main", "print('py')", "py"),
    ],
)
async def test_any_file_and_class_name_compiles(client, coder, language, name, source, expected):
    body = {"language": language, "version": "*", "files": [{"name": name, "content": source}]}
    answer = await client.post(
        "/api/v2/piston/execute", json=body, headers=coder["headers"], timeout=60
    )
    run = answer.json()["run"]
    assert run["stdout"].strip() == expected, answer.json()


async def test_one_account_cannot_hold_every_slot_and_compiles_count(settings) -> None:
    """Two runner slots: a user's second run at once is 429 runner_user_busy while another
    user still gets the other slot; and sandbox seconds, compiling included, are budgeted."""
    from tests.support import http_client, running_app

    budget = settings.model_copy(
        update={"runner_user_concurrency": 1, "runner_user_seconds_per_minute": 1.5}
    )
    async with running_app(budget) as (_app, url), http_client(url) as http:
        hog, other = await register(http), await register(http)
        slow = "import time\ntime.sleep(1.2)\nprint('slow')"
        first = asyncio.create_task(execute(http, hog, "python", slow))
        await asyncio.sleep(0.3)
        second = await execute(http, hog, "python", "print(2)")
        assert second.status_code == 429 and second.json()["error"] == "runner_user_busy"
        assert second.headers["Retry-After"]
        assert (await execute(http, other, "python", "print('other')")).status_code == 200
        assert (await first).json()["run"]["stdout"] == "slow\n"
        # 1.2 s spent of a 1.5 s budget: one more run fits, then the budget is used.
        again = await execute(http, hog, "python", "import time\ntime.sleep(0.5)")
        assert again.status_code == 200, again.text
        used = await execute(http, hog, "python", "print(3)")
        assert used.status_code == 429 and used.json()["error"] == "runner_time_used"
        assert 1 <= int(used.headers["Retry-After"]) <= 60


async def test_the_compile_stage_writes_into_a_capped_tmpfs(client, coder) -> None:
    """The compile stage's writable directory is the one host directory a sandbox writes to:
    each runner slot's lives on a tmpfs of its own size, like every other writable mount."""
    answer = await execute(client, coder, "c", '#include <stdio.h>\nint main(){ puts("x"); }')
    assert answer.json()["run"]["stdout"] == "x\n"
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    slots = [m for m in mounts if os.path.basename(m[1]).startswith("tq-slot-")]
    assert slots and all(m[2] == "tmpfs" and "size=" in m[3] for m in slots), slots
