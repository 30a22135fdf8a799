"""Unit tests of tq.jobs.registry (pure functions, no services)."""

from __future__ import annotations

import inspect

from config import Settings
from tq.jobs.registry import (
    DB_PING,
    HANDLERS,
    JOBS,
    PING,
    RUN_CODE,
    RUNS_QUEUE,
    TASK_ROUTES,
    beat_schedule,
    schedules,
)


def test_registry_celery_and_beat_agree() -> None:
    import workers

    workers.app.loader.import_default_modules()  # the `include`d raw-task modules
    tasks = {name for name in workers.app.tasks if not name.startswith("celery.")}
    assert set(HANDLERS) == set(JOBS), "every declared job has one @job function, and no more"
    assert tasks == set(JOBS) | {RUN_CODE, PING, DB_PING}
    for name, fn in HANDLERS.items():
        # A handler takes the clients, then exactly the declared string arguments.
        params = list(inspect.signature(fn).parameters)
        assert params[1:] == list(JOBS[name].args), name
        assert workers.app.tasks[name].__doc__ == fn.__doc__
    scheduled = {name for name, spec in JOBS.items() if spec.every}
    assert set(workers.app.conf.beat_schedule) == scheduled
    for name, entry in workers.app.conf.beat_schedule.items():
        assert entry["task"] == name and name in workers.app.tasks


def test_user_code_is_routed_to_the_runs_queue_only() -> None:
    routed = {name for name, route in TASK_ROUTES.items() if route["queue"] == RUNS_QUEUE}
    assert routed == {RUN_CODE, "execute_session_run", "prove_package"}


def test_beat_schedule_comes_from_settings(settings: Settings) -> None:
    tuned = settings.model_copy(update={"expire_sessions_every_s": 30.0})
    schedule = beat_schedule(tuned)
    assert schedule["expire_sessions"]["schedule"] == 30.0
    assert schedule["expire_sessions"]["options"]["headers"] == {"tq_trigger": "schedule"}
    assert schedule["expire_sessions"]["options"]["expires"] == 30.0
    assert set(schedules(tuned)) == set(schedule)
