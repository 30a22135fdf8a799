"""Piston-compatible execution (`/api/v2/piston`) and the runs of a session."""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from tq.auth.dependencies import CurrentUser, PistonUser
from tq.collab.history import diff_text
from tq.core.clients import Clients
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.runner import service
from tq.runner.schemas import (
    ListRunsQuery,
    PistonExecuteIn,
    PistonExecuteOut,
    RunDetail,
    RunEnvelope,
    RunIn,
    RunOut,
    RunPage,
    RuntimeList,
    RuntimeOut,
)
from tq.sessions.queries import member_session

# The public Piston's paths (the frontend's lib/piston.js), and a self-hosted Piston's, which
# the stock clients (npm piston-client, aiopyston, ...) call. Both take the token as a Bearer
# header or, for clients that cannot send headers, as the password of the server URL
# (`http://token:<jwt>@host`), and a JSON body sent as text/plain (as fetch() sends a string).
piston_bp = Blueprint("piston", url_prefix="/api/v2/piston")
piston_v2_bp = Blueprint("piston_v2", url_prefix="/api/v2")
runs_bp = Blueprint("runs", url_prefix="/api/sessions")
TAG = "code runner"
AUTH_NOTE = (
    "Authorization: Bearer <token>, or Basic with the token as the password (a server URL "
    "with credentials); the body may be sent as text/plain."
)


def _piston_routes(bp: Blueprint, where: str) -> None:
    """GET runtimes and POST execute on `bp`: the same two handlers under each prefix (each
    blueprint gets its own functions, so the spec has one operation per path)."""

    @bp.get("/runtimes")
    @doc(
        summary=f"Languages the runners serve ({where})",
        description=AUTH_NOTE,
        tag=TAG,
        ok={200: RuntimeList},
        errors=(503,),
    )
    async def runtimes(request: Request, clients: Clients, viewer: PistonUser) -> HTTPResponse:
        served = await service.available_runtimes(clients.redis)
        return json(dump(RuntimeList([RuntimeOut.of(runtime) for runtime in served])))

    @bp.post("/execute")
    @doc(
        summary=f"Run code in the sandbox and wait for the result ({where})",
        description=AUTH_NOTE,
        tag=TAG,
        body=PistonExecuteIn,
        ok={200: PistonExecuteOut},
        errors=(413, 429, 503, 504),
    )
    async def execute(request: Request, clients: Clients, viewer: PistonUser) -> HTTPResponse:
        body = parse_body(request, PistonExecuteIn, plain_text=True)
        answer = await service.execute_piston(clients, viewer, body)
        # Piston's shape, as the runner wrote it: a stage it did not run is absent, not null.
        return json(dump(PistonExecuteOut.model_validate(answer), exclude_unset=True))


_piston_routes(piston_bp, "Piston")
_piston_routes(piston_v2_bp, "a self-hosted Piston's path")


@runs_bp.post("/<session_id:str>/runs")
@doc(
    summary="Run code in a session (members); the run ends asynchronously",
    tag=TAG,
    body=RunIn,
    ok={202: RunEnvelope},
    errors=(403, 404, 409, 413, 429, 503),
)
async def create_run(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    body = parse_body(request, RunIn)
    run = await service.create_session_run(clients, session_id, viewer, body)
    return json(dump(RunEnvelope(run=RunOut.of(run))), status=202)


@runs_bp.get("/<session_id:str>/runs")
@doc(
    summary="A session's runs, newest first (members)",
    tag=TAG,
    query=ListRunsQuery,
    ok={200: RunPage},
    errors=(
        403,
        404,
    ),
)
async def list_runs(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, ListRunsQuery)
    engine = clients.engine
    session = await member_session(engine, session_id, viewer)
    runs, next_cursor = await service.list_runs(engine, session, query)
    return json(dump(RunPage(runs=[RunOut.of(run) for run in runs], nextCursor=next_cursor)))


@runs_bp.get("/<session_id:str>/runs/<run_id:str>")
@doc(
    summary="One run of a session, with the change to its code since the run before (members)",
    tag=TAG,
    ok={200: RunDetail},
    errors=(
        403,
        404,
    ),
)
async def get_run(
    request: Request, session_id: str, run_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    engine = clients.engine
    session = await member_session(engine, session_id, viewer)
    run = await service.get_run(engine, session, run_id)
    before = await service.previous_run(engine, session, run)
    diff = diff_text(
        before.source if before else "",
        run.source,
        "previous run",
        "this run",
        clients.settings.code_diff_max_lines,
    )
    body = RunDetail(
        run=RunOut.of(run),
        previousRunId=str(before.id) if before else None,
        diffToPrevious=diff,
    )
    return json(dump(body))
