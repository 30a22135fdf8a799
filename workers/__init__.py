"""The Celery application: `celery -A workers worker` and `celery -A workers beat`.

Settings are read once, here, when the worker (or beat) process imports this package. Every job
is a Celery task built from the registry (tq/jobs/registry.py); its logic lives in the `jobs.py`
of its domain.
"""

import importlib

from config import load_settings
from tq.core.celery import create_celery
from tq.jobs.registry import HANDLERS, JOB_MODULES, TASK_ROUTES, beat_schedule
from workers.jobs import register_jobs

settings = load_settings()
app = create_celery(settings, routes=TASK_ROUTES, include=["workers.tasks", "workers.runner"])
app.conf.beat_schedule = beat_schedule(settings)
for module in JOB_MODULES:
    importlib.import_module(module)
register_jobs(app, settings, HANDLERS)

__all__ = ["app", "settings"]
