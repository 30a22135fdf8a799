"""The app factory: a Sanic app assembled from small `setup_*` steps and server listeners."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from odmantic import AIOEngine
from redis.asyncio import Redis
from sanic import Sanic
from sanic.config import Config
from sanic_ext import Extend

from config import Settings, load_settings
from tq.chat.models import ChatArchiveChunk, ChatMessage, WebhookEvent
from tq.core.celery import create_celery
from tq.core.db import create_engine, ensure_indexes_until_done
from tq.core.errors import JSONErrorHandler
from tq.core.http import setup_request_context
from tq.core.redis import create_redis
from tq.core.security import PasswordHasher, TokenService
from tq.core.stream import StreamGateway
from tq.jobs.models import JobRun, OutboxJob
from tq.jobs.queue import JobQueue
from tq.jobs.registry import TASK_ROUTES
from tq.runner.models import CodeRun
from tq.sessions.models import Session
from tq.users.models import User
from tq.version import VERSION

log = logging.getLogger("tq")

# Every ODMantic document whose indexes are created at start-up.
DOCUMENT_MODELS: list[Any] = [
    OutboxJob,
    JobRun,
    User,
    Session,
    ChatMessage,
    ChatArchiveChunk,
    WebhookEvent,
    CodeRun,
]


@dataclass
class AppContext:
    """Typed `app.ctx`: long-lived clients exist from server start to server stop."""

    settings: Settings
    engine: AIOEngine = field(init=False)
    redis: Redis = field(init=False)
    celery: Celery = field(init=False)
    queue: JobQueue = field(init=False)
    stream: StreamGateway = field(init=False)
    hasher: PasswordHasher = field(init=False)
    tokens: TokenService = field(init=False)
    background: list[asyncio.Task[None]] = field(default_factory=list)


TQApp = Sanic[Config, AppContext]
_app_counter = itertools.count()


def setup_logging(settings: Settings) -> None:
    root = logging.getLogger("tq")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    root.propagate = False


def setup_extensions(app: TQApp) -> None:
    settings = app.ctx.settings
    app.config.CORS_ORIGINS = ",".join(settings.cors_origin)
    app.config.CORS_SUPPORTS_CREDENTIALS = True
    app.config.CORS_ALLOW_HEADERS = "authorization,content-type,x-request-id"
    app.config.CORS_EXPOSE_HEADERS = "x-request-id,retry-after"
    app.config.CORS_MAX_AGE = 600
    app.config.OAS_UI_DEFAULT = "swagger"
    app.config.OAS_UI_REDOC = False
    app.config.OAS_URL_PREFIX = "/docs"
    app.config.HEALTH = False
    Extend(app)
    app.ext.openapi.describe("Talent Quotient API", version=VERSION)
    app.ext.openapi.add_security_scheme("bearerAuth", "http", scheme="bearer", bearer_format="JWT")
    # Handlers may ask for these by type (sanic-ext dependency injection).
    app.ext.add_dependency(Settings, lambda request: request.app.ctx.settings)
    app.ext.add_dependency(AIOEngine, lambda request: request.app.ctx.engine)
    app.ext.add_dependency(Redis, lambda request: request.app.ctx.redis)
    app.ext.add_dependency(JobQueue, lambda request: request.app.ctx.queue)


def setup_clients(app: TQApp) -> None:
    @app.before_server_start
    async def open_clients(app: TQApp) -> None:
        ctx = app.ctx
        ctx.engine = create_engine(ctx.settings)
        ctx.redis = create_redis(ctx.settings)
        ctx.celery = create_celery(ctx.settings)
        ctx.celery.conf.task_routes = TASK_ROUTES
        ctx.queue = JobQueue(ctx.celery, ctx.engine)
        ctx.stream = StreamGateway(ctx.settings)
        ctx.hasher = PasswordHasher(ctx.settings)
        ctx.tokens = TokenService(ctx.settings)

    @app.after_server_start
    async def start_background(app: TQApp) -> None:
        ctx = app.ctx
        ctx.background.append(
            asyncio.create_task(ensure_indexes_until_done(ctx.engine, DOCUMENT_MODELS))
        )
        ctx.background.append(asyncio.create_task(_flush_outbox_forever(ctx.queue)))

    @app.before_server_stop
    async def close_clients(app: TQApp) -> None:
        ctx = app.ctx
        for task in ctx.background:
            task.cancel()
        for task in ctx.background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        ctx.engine.client.close()
        await ctx.redis.aclose()
        ctx.celery.close()
        await ctx.stream.close()
        ctx.hasher.close()


async def _flush_outbox_forever(queue: JobQueue, every_s: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await queue.flush_outbox()
        except Exception as exc:  # the database may be down; the next tick tries again
            log.debug("outbox flush skipped: %s", type(exc).__name__)


def setup_blueprints(app: TQApp) -> None:
    from tq.auth.views import bp as auth_bp
    from tq.chat.views import bp as chat_bp
    from tq.chat.views import webhooks_bp
    from tq.health.views import bp as health_bp
    from tq.problems.views import bp as problems_bp
    from tq.runner.views import piston_bp, runs_bp
    from tq.sessions.views import bp as sessions_bp

    blueprints = (
        health_bp,
        auth_bp,
        chat_bp,
        webhooks_bp,
        sessions_bp,
        runs_bp,
        piston_bp,
        problems_bp,
    )
    for blueprint in blueprints:
        app.blueprint(blueprint)


def create_app(settings: Settings | None = None, *, name: str | None = None) -> TQApp:
    settings = settings or load_settings()
    setup_logging(settings)
    app_name = name or settings.app_name
    if app_name in Sanic._app_registry:
        # Tests build many apps in one process; Sanic wants each name unique.
        app_name = f"{app_name}_{next(_app_counter)}"
    app: TQApp = Sanic(
        app_name,
        ctx=AppContext(settings=settings),
        error_handler=JSONErrorHandler(),
        configure_logging=True,
    )
    app.config.REQUEST_MAX_SIZE = settings.request_max_size
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.ACCESS_LOG = False  # tq.access writes one line per request instead
    app.config.KEEP_ALIVE_TIMEOUT = 75
    app.config.PROXIES_COUNT = settings.proxies_count
    setup_request_context(app)
    setup_extensions(app)
    setup_clients(app)
    setup_blueprints(app)
    return app
