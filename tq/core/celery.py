"""The Celery app as any process sees it: JSON only, late acks, bounded time; broker = REDIS_URL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from celery import Celery

from config import Settings


def create_celery(
    settings: Settings,
    *,
    routes: Mapping[str, Mapping[str, str]],
    include: Iterable[str] = (),
) -> Celery:
    """`routes` is required (tq.jobs.registry.TASK_ROUTES): a sender without them would put
    user code on the default queue, where the ordinary workers would run it unsandboxed."""
    app = Celery("tq", broker=settings.redis_url, backend=settings.redis_url, include=list(include))
    socket_opts = {
        "socket_timeout": max(settings.redis_timeout_s, 5.0),
        "socket_connect_timeout": settings.redis_timeout_s,
    }
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # A task is acknowledged only once it finished, and re-queued if its worker died.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_time_limit=settings.celery_task_time_limit,
        task_soft_time_limit=settings.celery_task_soft_time_limit,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        result_expires=24 * 3600,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        # A message taken by a worker that vanished (killed, not just its child) is handed out
        # again after this long; keep it above the longest task.
        broker_transport_options={
            **socket_opts,
            "visibility_timeout": settings.celery_visibility_timeout_s,
        },
        result_backend_transport_options=socket_opts,
        redis_socket_timeout=socket_opts["socket_timeout"],
        redis_socket_connect_timeout=settings.redis_timeout_s,
        beat_schedule={},
        task_routes=dict(routes),
    )
    return app
