"""The Celery application: `celery -A workers worker` and `celery -A workers beat`.

Settings are read once, here, when the worker (or beat) process imports this package.
"""

from config import load_settings
from tq.core.celery import create_celery
from tq.jobs.registry import TASK_ROUTES, beat_schedule

settings = load_settings()
app = create_celery(
    settings,
    include=[
        "workers.tasks",
        "workers.users",
        "workers.sessions",
        "workers.chat",
        "workers.maintenance",
        "workers.runner",
    ],
)
app.conf.task_routes = TASK_ROUTES
app.conf.beat_schedule = beat_schedule(settings)

__all__ = ["app", "settings"]
