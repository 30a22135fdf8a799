"""Executing a submission in the sandbox: a plain run, or judged against a problem's tests.

Runner-only (it imports the sandbox). A run is compiled once and then executed once per test,
each test in a fresh sandbox; judging stops at the first failing test.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from tq.problems.judging import JudgeSpec, TestCase, outputs_match
from tq.runner.cgroups import MemoryCgroup
from tq.runner.languages import LanguageSpec
from tq.runner.sandbox import Limits, StageResult, Workspace


@dataclass
class Outcome:
    verdict: str
    compile: StageResult | None
    run: StageResult | None  # the plain run, or the last visible test's
    tests: list[dict[str, Any]] | None = None
    time_ms: int = 0  # what the caller is shown (visible tests only)
    spent_ms: int = 0  # what the sandbox really took, compile and every test: fair use


@dataclass(frozen=True)
class Placement:
    """Where the sandbox puts this runner's submissions and which uid runs them."""

    base_dir: str | None
    outer_uid: int
    cgroup: MemoryCgroup | None = None  # the slot's memory cgroup (None: rlimits only)


def _workspace(
    spec: LanguageSpec, files: list[tuple[str, str]], limits: Limits, placement: Placement
) -> Workspace:
    return Workspace(
        spec,
        files,
        limits,
        base_dir=placement.base_dir,
        outer_uid=placement.outer_uid,
        cgroup=placement.cgroup,
    )


def execute(
    spec: LanguageSpec,
    files: list[tuple[str, str]],
    stdin: str,
    args: list[str],
    limits: Limits,
    placement: Placement,
) -> Outcome:
    with _workspace(spec, files, limits, placement) as box:
        compiled = box.compile()
        compile_ms = compiled.time_ms if compiled else 0
        if compiled is not None and compiled.status != "ok":
            return Outcome("compile_error", compiled, None, time_ms=compile_ms, spent_ms=compile_ms)
        result = box.run(stdin, args)
        # A stage's status is already the plain run's verdict ("ok", "time_limit", ...).
        return Outcome(
            result.status,
            compiled,
            result,
            time_ms=result.time_ms,
            spent_ms=compile_ms + result.time_ms,
        )


# The checker's feedback directory: the sandbox's own /tmp (private tmpfs, gone after the run).
CHECKER_INPUT, CHECKER_ANSWER, FEEDBACK_DIR = "judge_input", "judge_answer", "/tmp/"  # noqa: S108
CHECKER_ACCEPTS, CHECKER_REJECTS = 42, 43


def _checked(checker: Workspace, case: TestCase, output: str, args: tuple[str, ...]) -> str:
    """The checker's verdict on one output (Kattis's output validator protocol)."""
    checker.put(CHECKER_INPUT, case.input)
    checker.put(CHECKER_ANSWER, case.expected)
    result = checker.run(output, [CHECKER_INPUT, CHECKER_ANSWER, FEEDBACK_DIR, *args])
    if result.status == "ok" and result.code == 0:
        return "judge_error"  # 0 is neither answer: the protocol says 42 or 43
    if result.code == CHECKER_ACCEPTS:
        return "accepted"
    if result.code == CHECKER_REJECTS:
        return "wrong_answer"
    return "judge_error"


def judge(
    spec: LanguageSpec,
    source: str,
    problem: JudgeSpec,
    limits: Limits,
    placement: Placement,
    checker_spec: LanguageSpec | None = None,
    *,
    reveal_hidden: bool = False,
    checker_limits: Limits | None = None,
    deadline: float | None = None,
) -> Outcome:
    """Judged test by test, stopping at the first failure (its verdict is the run's, as
    Kattis judges). `reveal_hidden` (an import's report, for the problem's editors) also names
    hidden tests and their times; a candidate's run never does."""
    with contextlib.ExitStack() as stack:
        box = stack.enter_context(_workspace(spec, [("", source)], limits, placement))
        compiled = box.compile()
        spent_ms = compiled.time_ms if compiled else 0
        if compiled is not None and compiled.status != "ok":
            return Outcome(
                "compile_error", compiled, None, tests=[], time_ms=spent_ms, spent_ms=spent_ms
            )
        checker: Workspace | None = None
        if problem.checker is not None:
            if checker_spec is None:
                return Outcome("judge_error", compiled, None, tests=[], spent_ms=spent_ms)
            # The checker's own limits: the problem's time limit is the program's, and an
            # interpreted checker may need longer than a tight one just to start.
            checker = stack.enter_context(
                _workspace(
                    checker_spec, list(problem.checker.files), checker_limits or limits, placement
                )
            )
            built = checker.compile()
            if built is not None:
                spent_ms += built.time_ms
                if built.status != "ok":
                    return Outcome("judge_error", compiled, None, tests=[], spent_ms=spent_ms)
        results: list[dict[str, Any]] = []
        shown: StageResult | None = None
        verdict = "accepted"
        total_ms = 0
        for index, case in enumerate(problem.tests):
            if deadline is not None and time.monotonic() > deadline:
                verdict = "judge_timeout"  # the job's own budget, not the program's limit
                break
            result = box.run(case.input)
            spent_ms += result.time_ms
            if result.status != "ok":
                case_verdict: str = result.status
            elif checker is not None and problem.checker is not None:
                case_verdict = _checked(checker, case, result.stdout, problem.checker.args)
            elif outputs_match(result.stdout, case.expected, problem):
                case_verdict = "accepted"
            else:
                case_verdict = "wrong_answer"
            entry: dict[str, Any] = {
                "index": index,
                "hidden": case.hidden,
                "passed": case_verdict == "accepted",
                "verdict": case_verdict,
                "timeMs": None,
            }
            if not case.hidden:
                # A hidden test shows its verdict only: neither its input, nor its expected
                # output, nor what the program printed for it (that could echo the input), nor
                # its time (a program that sleeps in proportion to its input would tell it).
                # The run's total counts the visible tests only, for the same reason.
                entry |= {
                    "input": case.input,
                    "expected": case.expected,
                    "actual": result.stdout,
                    "timeMs": result.time_ms,
                }
                total_ms += result.time_ms
                shown = result
            elif reveal_hidden:
                entry["timeMs"] = result.time_ms
            if reveal_hidden:
                entry["name"] = case.name
            results.append(entry)
            if case_verdict != "accepted":
                verdict = case_verdict
                break
        return Outcome(verdict, compiled, shown, tests=results, time_ms=total_ms, spent_ms=spent_ms)


INPUT_VALID = 42


def failing_inputs(
    spec: LanguageSpec,
    files: list[tuple[str, str]],
    tests: tuple[TestCase, ...],
    limits: Limits,
    placement: Placement,
    deadline: float | None = None,
) -> tuple[str | None, list[str]]:
    """An input validator run on every test's input (exit 42: valid): its compile error, or
    the names of the tests it refused."""
    with _workspace(spec, files, limits, placement) as box:
        compiled = box.compile()
        if compiled is not None and compiled.status != "ok":
            return compiled.stderr[:500] or "compile error", []
        refused: list[str] = []
        for case in tests:
            if deadline is not None and time.monotonic() > deadline:
                return "proving took too long: the package has too much to run", refused
            result = box.run(case.input)
            if result.code != INPUT_VALID:
                refused.append(case.name)
        return None, refused
