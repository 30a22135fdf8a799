"""The problem bank (read-only; hidden tests never leave the server)."""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from tq.auth.dependencies import authenticated
from tq.core.errors import NotFound
from tq.core.openapi import doc
from tq.problems.bank import BY_SLUG, PROBLEMS
from tq.problems.schemas import ProblemEnvelope, ProblemList, ProblemOut, ProblemSummaryOut

bp = Blueprint("problems", url_prefix="/api/problems")
TAG = "problems"

# Static data: rendered once per process.
SUMMARIES = ProblemList(
    problems=[
        ProblemSummaryOut(
            id=p.slug, slug=p.slug, title=p.title, difficulty=p.difficulty, category=p.category
        )
        for p in PROBLEMS
    ]
).model_dump(mode="json")
DETAILS = {
    slug: ProblemOut.of(problem).model_dump(mode="json") for slug, problem in BY_SLUG.items()
}


@bp.get("/")
@doc(summary="The problem bank", tag=TAG, ok={200: ProblemList})
@authenticated()
async def list_problems(request: Request) -> HTTPResponse:
    return json(SUMMARIES)


@bp.get("/<slug:str>")
@doc(
    summary="One problem with examples and starter code",
    tag=TAG,
    ok={200: ProblemEnvelope},
    errors=(404,),
)
@authenticated()
async def get_problem(request: Request, slug: str) -> HTTPResponse:
    problem = DETAILS.get(slug)
    if problem is None:
        raise NotFound("Problem not found", code="problem_not_found")
    return json({"problem": problem})
