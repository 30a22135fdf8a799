"""`make bench-judge` (about a minute): judging at scale. A problem of the bank with 50 hidden
tests (inputs from 10 to 100,000 numbers) judged by the runner's own `judge` (the code a run and
an import use, sandbox and limits included) in Python, C and Java, with the problem's own
token comparison and again with a Python checker (Kattis's output validator protocol); beside
it, in the same run, the reference: the same programs run bare (a plain subprocess per test, no
sandbox, no limits), compared the same way. Reports the time per test and the whole judge.
Results go to bench/results/<date>-judge.json and .md."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import log
from bench.report import save, today
from tq.problems.judging import CheckerSpec, JudgeSpec, TestCase, outputs_match
from tq.runner.judge import Placement, judge
from tq.runner.languages import BY_NAME
from tq.runner.sandbox import Limits

ROUNDS = int(os.environ.get("BENCH_JUDGE_ROUNDS", "3"))
TESTS = 50
SOURCES = {
    "python": "import sys\ndata = sys.stdin.read().split()\nprint(sum(map(int, data[1:])))\n",
    "c": (
        '#include <stdio.h>\nint main(void){long long n,s=0,x;if(scanf("%lld",&n)!=1)return 1;'
        'for(long long i=0;i<n;i++){scanf("%lld",&x);s+=x;}printf("%lld\\n",s);return 0;}\n'
    ),
    "java": (
        "import java.io.*;import java.util.*;public class Main{public static void main(String[] a)"
        "throws IOException{StreamTokenizer t=new StreamTokenizer(new BufferedInputStream("
        "System.in));t.nextToken();int n=(int)t.nval;long s=0;for(int i=0;i<n;i++){t.nextToken();"
        "s+=(long)t.nval;}System.out.println(s);}}\n"
    ),
}
CHECKER = (
    "import sys\n"
    "want = open(sys.argv[2]).read().split()\n"
    "got = sys.stdin.read().split()\n"
    "sys.exit(42 if got == want else 43)\n"
)


def tests() -> tuple[TestCase, ...]:
    rnd = random.Random(50)
    cases = []
    for i in range(TESTS):
        n = 10 if i == 0 else int(10 ** (1 + 4 * i / (TESTS - 1)))  # 10 .. 100,000
        numbers = [rnd.randint(-(10**6), 10**6) for _ in range(n)]
        cases.append(
            TestCase(
                input=f"{n}\n{' '.join(map(str, numbers))}\n",
                expected=f"{sum(numbers)}\n",
                hidden=i > 0,
                name=f"secret/{i:02d}" if i else "sample/1",
            )
        )
    return tuple(cases)


def bare(language: str, source: str, cases: tuple[TestCase, ...]) -> dict[str, Any]:
    """The reference: compile once, then a plain subprocess per test (no sandbox)."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if language == "python":
            (work / "main.py").write_text(source)
            argv = ["/usr/bin/python3", "-B", str(work / "main.py")]
        elif language == "c":
            (work / "main.c").write_text(source)
            subprocess.run(
                ["gcc", "-O2", "-o", str(work / "main"), str(work / "main.c")], check=True
            )
            argv = [str(work / "main")]
        else:
            (work / "Main.java").write_text(source)
            subprocess.run(["javac", "-d", str(work), str(work / "Main.java")], check=True)
            argv = ["java", "-Xss64m", "-cp", str(work), "Main"]
        times = []
        started = time.perf_counter()
        for case in cases:
            one = time.perf_counter()
            out = subprocess.run(argv, input=case.input, capture_output=True, text=True, check=True)
            times.append((time.perf_counter() - one) * 1000)
            assert outputs_match(out.stdout, case.expected)
        return {"total_ms": (time.perf_counter() - started) * 1000, "per_test_ms": times}


def sandboxed(language: str, source: str, spec: JudgeSpec, checker: bool) -> dict[str, Any]:
    limits = Limits(run_timeout_s=2.0, memory_mb=256)
    placement = Placement(base_dir=None, outer_uid=60097)
    started = time.perf_counter()
    outcome = judge(
        BY_NAME[language],
        source,
        spec,
        limits,
        placement,
        BY_NAME["python"] if checker else None,
        reveal_hidden=True,
    )
    total = (time.perf_counter() - started) * 1000
    assert outcome.verdict == "accepted", outcome
    assert len(outcome.tests or []) == TESTS
    return {
        "total_ms": total,
        "per_test_ms": [t["timeMs"] for t in outcome.tests or []],
        "compile_ms": outcome.compile.time_ms if outcome.compile else 0,
    }


def row(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    totals = [r["total_ms"] for r in runs]
    per_test = [t for r in runs for t in r["per_test_ms"]]
    return {
        "cell": name,
        "judge_p50_ms": round(statistics.median(totals), 1),
        "per_test_p50_ms": round(statistics.median(per_test), 2),
        "per_test_max_ms": round(max(per_test), 2),
        "per_test_mean_ms": round(statistics.mean(per_test), 2),
    }


def main() -> None:
    cases = tests()
    plain = JudgeSpec(tests=cases, comparison="tokens")
    checked = JudgeSpec(
        tests=cases,
        comparison="tokens",
        checker=CheckerSpec("python", (("validator.py", CHECKER),)),
    )
    rows = []
    for language, source in SOURCES.items():
        log(f"judging {language}: {TESTS} tests x {ROUNDS} rounds")
        rows.append(
            row(
                f"{language}, bare (reference)",
                [bare(language, source, cases) for _ in range(ROUNDS)],
            )
        )
        rows.append(
            row(
                f"{language}, sandboxed",
                [sandboxed(language, source, plain, False) for _ in range(ROUNDS)],
            )
        )
        rows.append(
            row(
                f"{language}, sandboxed + checker",
                [sandboxed(language, source, checked, True) for _ in range(ROUNDS)],
            )
        )
    lines = [
        f"# Judging at scale, {today()}",
        "",
        f"A problem with {TESTS} tests (1 sample, {TESTS - 1} hidden; 10 to 100,000 numbers to "
        f"add), judged {ROUNDS} times per cell by the runner's own `judge` (compile once, then a "
        "fresh sandbox per test, the problem's limits: 2 s, 256 MB), beside the same programs "
        "run bare (no sandbox) in the same run. `+ checker`: each answer judged by a Python "
        "output validator in a sandbox of its own. Machine: "
        f"{os.cpu_count()} cores.",
        "",
        "| cell | whole judge p50 ms | per test p50 ms | per test mean ms | per test max ms |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {r['cell']} | {r['judge_p50_ms']} | {r['per_test_p50_ms']} | "
            f"{r['per_test_mean_ms']} | {r['per_test_max_ms']} |"
            for r in rows
        ),
        "",
        "Per test: the program's own stage as the sandbox timed it (sandboxed) or the subprocess "
        "(bare); the whole judge adds the compile and, with a checker, the checker's runs.",
        "",
    ]
    save(f"{today()}-judge", {"tests": TESTS, "rounds": ROUNDS, "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
