"""The problem bank (read-only; hidden tests never leave the server)."""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from tq.auth.dependencies import CurrentUser
from tq.core.errors import NotFound
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.problems.bank import BY_SLUG, PROBLEMS
from tq.problems.schemas import ProblemEnvelope, ProblemList, ProblemOut, ProblemSummaryOut

bp = Blueprint("problems", url_prefix="/api/problems")
TAG = "problems"

# Static data: rendered once per process.
SUMMARIES = dump(ProblemList(problems=[ProblemSummaryOut.of(p) for p in PROBLEMS]))
ENVELOPES = {slug: dump(ProblemEnvelope(problem=ProblemOut.of(p))) for slug, p in BY_SLUG.items()}


@bp.get("/")
@doc(summary="The problem bank", tag=TAG, ok={200: ProblemList})
async def list_problems(request: Request, viewer: CurrentUser) -> HTTPResponse:
    return json(SUMMARIES)


@bp.get("/<slug:str>")
@doc(
    summary="One problem with examples and starter code",
    tag=TAG,
    ok={200: ProblemEnvelope},
    errors=(404,),
)
async def get_problem(request: Request, slug: str, viewer: CurrentUser) -> HTTPResponse:
    envelope = ENVELOPES.get(slug)
    if envelope is None:
        raise NotFound("Problem not found", code="problem_not_found")
    return json(envelope)
