"""The runner's jobs. `execute_session_run` executes user code and runs only on the `runs`
queue; `announce_run` and `fail_stale_runs` are ordinary jobs that execute nothing. The raw
Piston task is workers/runner.py's."""

from __future__ import annotations

import os
import socket

from tq.core.clients import Clients
from tq.jobs.registry import ANNOUNCE_RUN, EXECUTE_SESSION_RUN, FAIL_STALE_RUNS, PROVE_PACKAGE, job
from tq.runner.execution import placement, run_session_code, served_runtimes
from tq.runner.proving import prove_import
from tq.runner.service import announce_run_completion, fail_runs_older_than


@job(EXECUTE_SESSION_RUN)
async def execute_session_run(clients: Clients, run_id: str) -> dict[str, int]:
    """Run (or judge) a session's code in the sandbox; on the runs queue only."""
    return await run_session_code(
        clients.engine,
        clients.queue,
        clients.settings,
        run_id,
        f"{socket.gethostname()}:{os.getpid()}",
        lambda: placement(clients.settings),
        served_runtimes(),
        clients.redis,
    )


@job(ANNOUNCE_RUN)
async def announce_run(clients: Clients, run_id: str) -> dict[str, int]:
    """`run.completed` on the session's channel, so both clients see the run end."""
    return await announce_run_completion(clients, run_id)


@job(FAIL_STALE_RUNS)
async def fail_stale_runs(clients: Clients) -> dict[str, int]:
    """Fail runs left queued or running past RUNNER_STALE_AFTER_S."""
    return await fail_runs_older_than(
        clients.engine, clients.queue, clients.settings.runner_stale_after_s
    )


@job(PROVE_PACKAGE)
async def prove_package(clients: Clients, import_id: str) -> dict[str, int]:
    """Judge every submission of an imported package; on the runs queue only."""
    return await prove_import(
        clients, import_id, lambda: placement(clients.settings), served_runtimes()
    )
