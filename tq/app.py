"""The app factory: a Sanic app assembled from small `setup_*` steps and server listeners."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from dataclasses import dataclass, field
from typing import Any, cast

from sanic import Request, Sanic
from sanic.config import Config
from sanic.response import HTTPResponse, raw
from sanic_ext import Extend
from sanic_ext.extensions.openapi import openapi
from sanic_ext.extensions.openapi.builders import SpecificationBuilder

from config import Settings, load_settings
from tq.auth.dependencies import DEPENDENCIES as AUTH_DEPENDENCIES
from tq.auth.dependencies import revoked_key
from tq.chat.models import ChatArchiveChunk, ChatMessage, StreamEvent
from tq.collab.models import ClientSignal, CodeHistoryBlock, CodeSnapshot, CodeUpdate
from tq.collab.service import Rooms
from tq.core.celery import create_celery
from tq.core.clients import Clients
from tq.core.db import ensure_indexes_until_done
from tq.core.errors import JSONErrorHandler, TooManyRequests
from tq.core.http import client_address, setup_request_context
from tq.core.queue import JobQueue, JobRun, OutboxJob
from tq.core.ratelimit import RateLimits, Verdict
from tq.core.security import PasswordHasher, TokenService
from tq.evaluation.models import Note, Scorecard
from tq.health.service import Readiness
from tq.integrations.models import WebhookDelivery, WebhookEndpoint
from tq.jobs.registry import TASK_ROUTES
from tq.notifications.models import Email
from tq.orgs.models import AuditRecord, Organization
from tq.problems.models import Problem, ProblemImport, ProblemVersion
from tq.reactions import subscribe_reactions
from tq.runner.models import CodeRun
from tq.scim.models import ScimGroup, ScimToken, ScimUser
from tq.scorecard_templates.models import ScorecardTemplate, TemplateVersion
from tq.sessions.models import Session, SessionEventRecord
from tq.sessions.store import backfill_fields
from tq.sso.models import SsoConnection, SsoDomain
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
    StreamEvent,
    CodeRun,
    Email,
    SessionEventRecord,
    Note,
    Scorecard,
    WebhookEndpoint,
    WebhookDelivery,
    CodeUpdate,
    CodeSnapshot,
    CodeHistoryBlock,
    ClientSignal,
    Organization,
    AuditRecord,
    Problem,
    ProblemVersion,
    ProblemImport,
    ScorecardTemplate,
    TemplateVersion,
    SsoConnection,
    SsoDomain,
    ScimToken,
    ScimUser,
    ScimGroup,
]


@dataclass
class AppContext:
    """Typed `app.ctx`: long-lived clients exist from server start to server stop. Handlers
    ask for what they need by type (see `setup_extensions`); only the auth dependencies and
    the shared editor's WebSocket handler (its `rooms`) read it."""

    settings: Settings
    clients: Clients = field(init=False)
    hasher: PasswordHasher = field(init=False)
    tokens: TokenService = field(init=False)
    readiness: Readiness = field(init=False)
    rate_limits: RateLimits = field(init=False)
    rooms: Rooms = field(init=False)  # the shared editor's open documents in this process
    openapi_json: bytes = b""
    background: list[asyncio.Task[None]] = field(default_factory=list)


TQApp = Sanic[Config, AppContext]

# What OpenAPI cannot describe as an operation: the shared editor's WebSocket.
API_DESCRIPTION = """\
**Shared editor (WebSocket, y-websocket protocol).** `ws(s)://<host>/api/collab/<sessionId>\
?token=<access token>`: the stock npm `y-websocket` provider connects unchanged
(`new WebsocketProvider(url, sessionId, doc, {params: {token}})`). The document holds a
`Y.Text` named `code` and a `Y.Map` named `meta` with `language`; awareness states carry
`user: {id, name, sessionRole, color}`, set by the server. Host, interviewers and candidate
only; a finished session is read-only (updates refused with the auth message `read_only`).
An open connection is checked again every `COLLAB_RECHECK_S` (token, membership, status).
Close codes: 4400 malformed frame, 4401 no or bad token, 4404 not the caller's session, 4408
idle, 4409 too early, 4413 message, document or awareness too large, 4429 too many updates,
frames, awareness clients or connections, 1011 storage unavailable (reconnect), 1012 room
rebuilt (reconnect), 1013 too slow to read (reconnect).

**SCIM 2.0 (RFC 7644).** `/scim/v2` (`Users`, `Groups`, `ServiceProviderConfig`,
`ResourceTypes`, `Schemas`), authenticated by a SCIM token of the organization (`POST
/api/orgs/{org_id}/scim/tokens`), answers `application/scim+json` and describes itself through
its discovery endpoints rather than this document.
"""
_app_counter = itertools.count()


def setup_logging(settings: Settings) -> None:
    root = logging.getLogger("tq")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    root.propagate = False
    # pysaml2 logs whole SAML messages (bearer credentials, people's names) and every refusal;
    # tq.sso logs what was refused, without them.
    logging.getLogger("saml2").setLevel(logging.CRITICAL)


def setup_extensions(app: TQApp) -> None:
    settings = app.ctx.settings
    app.config.CORS_ORIGINS = ",".join(settings.cors_origin)
    app.config.CORS_SUPPORTS_CREDENTIALS = True
    app.config.CORS_ALLOW_HEADERS = "authorization,content-type,x-request-id"
    app.config.CORS_EXPOSE_HEADERS = (
        "x-request-id,retry-after,ratelimit-limit,ratelimit-remaining,ratelimit-reset"
    )
    app.config.CORS_MAX_AGE = 600
    # Only to requests that carry an Origin (browsers always send one cross-origin): probes,
    # Piston clients and servers get no CORS headers to build and send.
    app.config.CORS_ALWAYS_SEND = False
    app.config.OAS_UI_DEFAULT = "swagger"
    app.config.OAS_UI_REDOC = False
    app.config.OAS_URL_PREFIX = "/docs"
    app.config.HEALTH = False
    # Handlers' arguments (the signed-in user among them) are built after the request
    # middleware, not right after routing: the rate limiter runs first, refuses before any
    # account is read, and hands the guard the token's revocation it asked in its round trip.
    app.config.INJECTION_SIGNAL = "http.handler.before"
    Extend(app)
    _add_auto_routes_at_once(app)
    app.ext.openapi.describe("Talent Quotient API", version=VERSION, description=API_DESCRIPTION)
    app.ext.openapi.add_security_scheme("bearerAuth", "http", scheme="bearer", bearer_format="JWT")
    # The one way handlers reach the process's clients: by type, through sanic-ext injection
    # (`async def handler(request, clients: Clients)`).
    app.ext.add_dependency(Clients, _clients)
    app.ext.add_dependency(PasswordHasher, _hasher)
    app.ext.add_dependency(TokenService, _tokens)
    app.ext.add_dependency(Readiness, _readiness)
    # And the signed-in user, by type too (`viewer: CurrentUser`): see tq.auth.dependencies.
    for kind, constructor in AUTH_DEPENDENCIES:
        app.ext.add_dependency(kind, constructor)


def _add_auto_routes_at_once(app: TQApp) -> None:
    """sanic-ext adds the automatic HEAD and OPTIONS routes (CORS preflights) one by one once
    the server has started, and Sanic finalizes its signal router again after each one: start
    time grew with the square of the routes (seconds per start). The signal router is set
    aside around that step and finalized once after it."""
    from sanic_ext.config import PRIORITY

    def set_signals_aside(app: TQApp) -> None:
        if app.signal_router.finalized:
            app.signal_router.reset()  # type: ignore[no-untyped-call]

    def finalize_signals_once(app: TQApp) -> None:
        if not app.signal_router.finalized:
            app.signalize(cast(bool, app.config.TOUCHUP))

    # (listeners of a higher priority run first: around sanic-ext's, at PRIORITY)
    app.register_listener(set_signals_aside, "before_server_start", priority=PRIORITY + 1)
    app.register_listener(finalize_signals_once, "before_server_start", priority=PRIORITY - 1)


def _clients(request: Request) -> Clients:
    return cast(TQApp, request.app).ctx.clients


def _hasher(request: Request) -> PasswordHasher:
    return cast(TQApp, request.app).ctx.hasher


def _tokens(request: Request) -> TokenService:
    return cast(TQApp, request.app).ctx.tokens


def _readiness(request: Request) -> Readiness:
    return cast(TQApp, request.app).ctx.readiness


def build_spec_document(app: Sanic[Any, Any]) -> dict[str, Any]:
    """The served spec: sanic-ext's, with the server it describes (relative: this one)."""
    spec: dict[str, Any] = SpecificationBuilder().build(app).serialize()
    spec["servers"] = [{"url": "/", "description": "this server"}]
    return spec


def setup_openapi_cache(app: TQApp) -> None:
    """The spec is the same for the life of the process: build it once at start-up and serve
    those bytes, instead of sanic-ext's rebuild on every request."""
    spec_path = f"{app.config.OAS_URL_PREFIX.rstrip('/')}/openapi.json"

    @app.after_server_start
    async def build_spec(app: TQApp) -> None:
        # UTF-8 as it is: an escaped astral character (a surrogate pair) trips YAML readers.
        app.ctx.openapi_json = json.dumps(build_spec_document(app), ensure_ascii=False).encode()

    def serve_spec(request: Request) -> HTTPResponse | None:  # never waits: a plain function
        body = cast(TQApp, request.app).ctx.openapi_json
        if request.path == spec_path and request.method in ("GET", "HEAD") and body:
            return raw(body, content_type="application/json")
        return None

    app.register_middleware(serve_spec, "request", priority=50)


def setup_clients(app: TQApp) -> None:
    @app.before_server_start
    async def open_clients(app: TQApp) -> None:
        ctx = app.ctx
        celery = create_celery(ctx.settings, routes=TASK_ROUTES)
        ctx.clients = Clients.open(ctx.settings, celery)
        subscribe_reactions(ctx.clients.events, ctx.clients)
        ctx.hasher = PasswordHasher(ctx.settings)
        ctx.tokens = TokenService(ctx.settings)
        ctx.readiness = Readiness(ctx.clients)
        ctx.rate_limits = RateLimits(ctx.settings, ctx.tokens, ctx.clients.redis)
        ctx.rooms = Rooms(ctx.clients.engine, ctx.clients.queue, ctx.settings)

    @app.after_server_start
    async def start_background(app: TQApp) -> None:
        ctx = app.ctx
        clients = ctx.clients
        ctx.background.append(asyncio.create_task(_prepare_database(clients)))
        ctx.background.append(asyncio.create_task(_flush_outbox_forever(clients.queue)))
        ctx.rooms.start()

    @app.before_server_stop
    async def close_clients(app: TQApp) -> None:
        ctx = app.ctx
        for task in ctx.background:
            task.cancel()
        for task in ctx.background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await ctx.rooms.stop()
        await ctx.clients.close()
        ctx.clients.celery.close()
        ctx.hasher.close()


async def _prepare_database(clients: Clients) -> None:
    """Indexes, then the one-off backfills of fields added since (idempotent)."""
    await ensure_indexes_until_done(clients.engine, DOCUMENT_MODELS)
    try:
        await backfill_fields(clients.engine)
    except Exception as exc:  # the next start tries again
        log.warning("session backfill skipped: %s", type(exc).__name__)


async def _flush_outbox_forever(queue: JobQueue, every_s: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await queue.flush_outbox()
        except Exception as exc:  # the database may be down; the next tick tries again
            log.debug("outbox flush skipped: %s", type(exc).__name__)


def setup_rate_limits(app: TQApp) -> None:
    """Per user and per address moving windows (tq/core/ratelimit.py), checked before any
    handler; the headers go on every answer, errors included. Turned off
    (RATE_LIMITS_ENABLED=false), nothing is registered: no cost per request."""
    if not app.ctx.settings.rate_limits_enabled:
        return

    async def limit(request: Request) -> None:
        limits = cast(TQApp, request.app).ctx.rate_limits
        if not limits.applies_to(request):
            return
        item, identity = limits.bucket(request, client_address(request))
        claims = getattr(request.ctx, "verified_claims", None)
        # The token's revocation is asked in the same round trip; the guard reads the answer.
        revocation = revoked_key(claims.jti) if claims is not None else None
        verdict = await limits.check(item, identity, also_exists=revocation)
        request.ctx.rate_verdict = verdict
        if claims is not None and verdict is not None:
            request.ctx.revocation = (claims.jti, verdict.exists)
        if verdict is not None and not verdict.allowed:
            raise TooManyRequests(
                "Too many requests; slow down",
                code="rate_limited",
                headers={"Retry-After": str(verdict.reset_in_s), **rate_headers(verdict)},
            )

    def tag(request: Request, response: HTTPResponse) -> None:
        verdict = getattr(request.ctx, "rate_verdict", None)
        if verdict is not None:
            response.headers.update(rate_headers(verdict))

    app.register_middleware(limit, "request", priority=90)
    app.register_middleware(tag, "response", priority=90)  # type: ignore[arg-type]


def rate_headers(verdict: Verdict) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(verdict.limit),
        "RateLimit-Remaining": str(verdict.remaining),
        "RateLimit-Reset": str(verdict.reset_in_s),
    }


def setup_blueprints(app: TQApp) -> None:
    from tq.auth.views import bp as auth_bp
    from tq.chat.views import bp as chat_bp
    from tq.chat.views import stream_events_bp
    from tq.collab.views import bp as collab_bp
    from tq.collab.views import code_bp
    from tq.evaluation.views import bp as evaluation_bp
    from tq.health.views import bp as health_bp
    from tq.health.views import metrics_bp
    from tq.integrations.views import bp as webhook_endpoints_bp
    from tq.integrations.views import org_endpoints_bp
    from tq.invitations.views import bp as invitations_bp
    from tq.invitations.views import links_bp as invitation_links_bp
    from tq.notifications.views import bp as calendar_bp
    from tq.orgs.views import bp as orgs_bp
    from tq.orgs.views import links_bp as org_invitation_links_bp
    from tq.problems.views import bank_bp
    from tq.problems.views import bp as problems_bp
    from tq.runner.views import piston_bp, piston_v2_bp, runs_bp
    from tq.scim.views import bp as scim_bp
    from tq.scim.views import tokens_bp as scim_tokens_bp
    from tq.scorecard_templates.views import bp as scorecard_templates_bp
    from tq.sessions.views import bp as sessions_bp
    from tq.sessions.views import org_sessions_bp
    from tq.sso.views import config_bp as sso_config_bp
    from tq.sso.views import login_bp as sso_login_bp

    blueprints = (
        health_bp,
        metrics_bp,
        auth_bp,
        chat_bp,
        stream_events_bp,
        sessions_bp,
        orgs_bp,
        org_sessions_bp,
        org_invitation_links_bp,
        invitations_bp,
        invitation_links_bp,
        calendar_bp,
        evaluation_bp,
        webhook_endpoints_bp,
        org_endpoints_bp,
        runs_bp,
        piston_bp,
        piston_v2_bp,
        problems_bp,
        bank_bp,
        scorecard_templates_bp,
        collab_bp,
        code_bp,
        sso_config_bp,
        sso_login_bp,
        scim_tokens_bp,
        scim_bp,
    )
    for blueprint in blueprints:
        app.blueprint(blueprint)
    # A WebSocket is no OpenAPI operation (the spec's description says how to connect). Marked
    # once registered: Sanic wraps a WebSocket handler, and the wrapper is what the spec sees.
    openapi.exclude(bp=collab_bp)
    # SCIM 2.0 is described by its own discovery endpoints (RFC 7644), not by OpenAPI.
    openapi.exclude(bp=scim_bp)


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
    # The shared editor's frames: room above its own limit, so that limit answers with 4413
    # (Sanic's would close with 1009, which y-websocket retries forever).
    app.config.WEBSOCKET_MAX_SIZE = settings.collab_max_message_bytes * 2
    app.config.PROXIES_COUNT = settings.proxies_count
    setup_request_context(app)
    setup_extensions(app)
    setup_clients(app)
    setup_openapi_cache(app)
    setup_rate_limits(app)
    setup_blueprints(app)
    return app
