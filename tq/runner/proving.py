"""Proving an imported problem package on the runner: every submission judged against every
test, and each must end as its folder says (accepted passes them all; wrong_answer,
time_limit_exceeded and run_time_error fail with that verdict, as Kattis judges: the first
failing test's). Then the problems domain writes the version, or nothing but the report.
Runner-only: it runs code."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from tq.core.clients import Clients
from tq.core.errors import AppError
from tq.problems import kattis
from tq.problems import service as problems
from tq.problems.judging import JudgeSpec
from tq.runner.execution import limits_for, limits_from
from tq.runner.judge import Outcome, Placement, failing_inputs, judge
from tq.runner.languages import BY_NAME, Runtime
from tq.runner.sandbox import SourceError

log = logging.getLogger("tq.runner.proving")

# The verdicts each folder of submissions must end with.
FAILURES = frozenset(
    {"wrong_answer", "time_limit", "runtime_error", "memory_limit", "output_limit"}
)
EXPECTED: dict[str, frozenset[str]] = {
    "accepted": frozenset({"accepted"}),
    "rejected": FAILURES | {"compile_error"},
    "wrong_answer": frozenset({"wrong_answer"}),
    "time_limit_exceeded": frozenset({"time_limit"}),
    "run_time_error": frozenset({"runtime_error", "memory_limit"}),
    # correct, maybe too slow
    "brute_force": frozenset({"accepted", "time_limit"}),
}


def _line(
    submission: kattis.PackageSubmission, outcome: Outcome | None, detail: str | None = None
) -> dict[str, Any]:
    verdict = outcome.verdict if outcome else "not_run"
    failing = next((t for t in (outcome.tests or []) if not t["passed"]), None) if outcome else None
    times = (
        [t["timeMs"] for t in (outcome.tests or []) if t.get("timeMs") is not None]
        if outcome
        else []
    )
    return {
        "submission": f"{submission.kind}/{submission.name}",
        "language": submission.language,
        "expected": submission.kind,
        "verdict": verdict,
        "ok": outcome is not None and verdict in EXPECTED[submission.kind],
        "test": (failing.get("name") or f"#{failing['index']}") if failing else None,
        "timeMs": max(times) if times else None,
        "detail": detail
        or (
            outcome.compile.stderr[:500]
            if outcome and outcome.compile and verdict == "compile_error"
            else None
        ),
    }


def _validated_inputs(
    package: kattis.Package,
    settings: Any,
    place: Callable[[], Placement],
    served: set[str],
    deadline: float,
) -> list[dict[str, Any]]:
    """Each input validator on every test's input: one report line each."""
    lines = []
    spec = problems.package_judging(package, settings.problem_max_time_limit_s)
    for validator in package.input_validators:
        language = kattis.LANGUAGE_OF[PurePosixPath(validator.name).suffix]
        line: dict[str, Any] = {
            "submission": f"input_validators/{validator.name}",
            "language": language,
            "expected": "valid_input",
            "verdict": "valid_input",
            "ok": True,
            "test": None,
            "timeMs": None,
            "detail": None,
        }
        if language not in served:
            line |= {"ok": False, "verdict": "not_run", "detail": f"no {language} runner here"}
        else:
            error, refused = failing_inputs(
                BY_NAME[language],
                [(validator.name, validator.content)],
                spec.tests,
                limits_from(settings),
                place(),
                deadline,
            )
            if error is not None:
                line |= {"ok": False, "verdict": "compile_error", "detail": error}
            elif refused:
                line |= {
                    "ok": False,
                    "verdict": "invalid_input",
                    "test": refused[0],
                    "detail": f"{len(refused)} test inputs refused: {', '.join(refused[:5])}",
                }
        lines.append(line)
    return lines


async def prove_import(
    clients: Clients, import_id: str, place: Callable[[], Placement], runtimes: list[Runtime]
) -> dict[str, int]:
    settings = clients.settings
    job = await problems.claim_import(clients, import_id, settings.runner_max_attempts)
    if job is None:
        return {"skipped": 1}
    try:
        package = await problems.parse_stored(settings, job)
    except AppError as exc:
        await problems.finish_import(clients, job, None, None, [], exc.message)
        return {"failed": 1}
    served = {runtime.language for runtime in runtimes}
    checker = None
    if package.checker_language is not None:
        if package.checker_language not in served:
            error = f"this runner does not run {package.checker_language} (the output validator)"
            await problems.finish_import(clients, job, None, None, [], error)
            return {"failed": 1}
        checker = BY_NAME[package.checker_language]
    # Stop well before the job's soft time limit, with a clear error rather than a kill.
    deadline = time.monotonic() + max(10.0, settings.celery_task_soft_time_limit - 30)
    cap = settings.problem_max_time_limit_s
    time_limit = package.time_limit_s
    report: list[dict[str, Any]] = []
    slowest_ms = 0

    def run(submission: kattis.PackageSubmission, spec: JudgeSpec) -> dict[str, Any]:
        if submission.language not in served:
            return _line(submission, None, f"this runner does not run {submission.language}")
        if time.monotonic() > deadline:
            return _line(submission, None, "proving took too long: the package has too much to run")
        try:
            outcome = judge(
                BY_NAME[submission.language],
                submission.source,
                spec,
                limits_for(settings, spec),
                place(),
                checker,
                reveal_hidden=True,
                checker_limits=limits_from(settings),
                deadline=deadline,
            )
        except SourceError as exc:
            return _line(submission, None, str(exc))
        return _line(submission, outcome)

    try:
        report += _validated_inputs(package, settings, place, served, deadline)
        # Accepted ones first: within the time limit's safety margin (Kattis: the slowest
        # accepted run times ac_to_time_limit fits in the limit); without a time limit in
        # problem.yaml, theirs decides it.
        margin = time_limit / package.ac_to_time_limit if time_limit else cap
        for submission in (s for s in package.submissions if s.kind == "accepted"):
            line = run(submission, problems.package_judging(package, margin))
            if line["verdict"] == "time_limit" and time_limit:
                line["detail"] = (
                    f"accepted submissions must run within time_limit / ac_to_time_limit "
                    f"= {margin:.2f} s (Kattis's safety margin)"
                )
            slowest_ms = max(slowest_ms, line["timeMs"] or 0)
            report.append(line)
        if time_limit is None:
            time_limit = problems.time_limit_from(package, slowest_ms / 1000, cap)
            if time_limit is None:
                error = (
                    f"no time limit fits: the slowest accepted run times ac_to_time_limit "
                    f"passes the {cap} s the server allows"
                )
                await problems.finish_import(clients, job, None, None, report, error)
                return {"failed": 1}
        for submission in (s for s in package.submissions if s.kind != "accepted"):
            # A time-limit submission must still be too slow with the margin Kattis gives.
            limit = time_limit * (
                package.time_limit_to_tle if submission.kind == "time_limit_exceeded" else 1
            )
            report.append(run(submission, problems.package_judging(package, limit)))
    except Exception as exc:
        log.exception("import %s could not be proven", import_id)
        await problems.finish_import(
            clients, job, None, None, report, f"runner error: {type(exc).__name__}"
        )
        return {"failed": 1}
    finished = await problems.finish_import(clients, job, package, time_limit, report, None)
    return {finished.status: 1}
