"""The Celery application: `celery -A workers worker` and `celery -A workers beat`.

Settings are read once, here, when the worker (or beat) process imports this package.
"""

from config import load_settings
from tq.core.queue import create_celery

settings = load_settings()
app = create_celery(
    settings, include=["workers.tasks", "workers.users", "workers.sessions", "workers.chat"]
)

__all__ = ["app", "settings"]
