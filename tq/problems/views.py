"""The public library (`/api/problems`, read-only; hidden tests never leave the server) and an
organization's own bank (`/api/orgs/{org_id}/problems`)."""

from __future__ import annotations

from sanic import Blueprint, Request, empty, json, raw
from sanic.response import HTTPResponse

from tq.auth.dependencies import CurrentUser
from tq.core.clients import Clients
from tq.core.errors import NotFound, PayloadTooLarge, UnsupportedMediaType
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.orgs.permissions import Action
from tq.orgs.service import org_for
from tq.problems import service
from tq.problems.bank import BY_SLUG, PROBLEMS
from tq.problems.models import ProblemVersion
from tq.problems.schemas import (
    BankPage,
    BankPageQuery,
    BankProblemSummaryOut,
    CopyProblemIn,
    CreateProblemIn,
    ExportQuery,
    ImportEnvelope,
    ImportOut,
    ImportQuery,
    ProblemEnvelope,
    ProblemList,
    ProblemOut,
    ProblemSummaryOut,
    ProblemVersionEnvelope,
    ProblemVersionOut,
    UpdateProblemIn,
    VersionList,
    VersionSummaryOut,
)

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


# --- an organization's bank

bank_bp = Blueprint("bank", url_prefix="/api/orgs")
BANK = "question bank"
PACKAGE_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")


def _version(found: ProblemVersion, status: int = 200) -> HTTPResponse:
    return json(dump(ProblemVersionEnvelope(problem=ProblemVersionOut.of(found))), status=status)


@bank_bp.get("/<org_id:str>/problems")
@doc(
    summary="The organization's problems by slug, paged",
    tag=BANK,
    query=BankPageQuery,
    ok={200: BankPage},
    errors=(403, 404),
)
async def list_bank(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, BankPageQuery)
    problems, more = await service.list_bank(clients, org_id, viewer, query.after, query.limit)
    cursor = problems[-1].slug if more and problems else None
    return json(
        dump(BankPage(problems=[BankProblemSummaryOut.of(p) for p in problems], nextCursor=cursor))
    )


@bank_bp.post("/<org_id:str>/problems")
@doc(
    summary="Add a problem (version 1)",
    tag=BANK,
    body=CreateProblemIn,
    ok={201: ProblemVersionEnvelope},
    errors=(403, 404, 409),
)
async def create_problem(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, CreateProblemIn)
    return _version(await service.create(clients, org_id, viewer, data), 201)


@bank_bp.post("/<org_id:str>/problems/copy")
@doc(
    summary="Copy a problem of the public library into the bank (version 1)",
    tag=BANK,
    body=CopyProblemIn,
    ok={201: ProblemVersionEnvelope},
    errors=(403, 404, 409),
)
async def copy_problem(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, CopyProblemIn)
    return _version(await service.copy_from_library(clients, org_id, viewer, data.slug), 201)


@bank_bp.post("/<org_id:str>/problems/import", stream=True)
@doc(
    summary="Import a Kattis problem package (zip); the runner then proves every submission",
    tag=BANK,
    query=ImportQuery,
    raw_body=(PACKAGE_TYPES[0], PACKAGE_TYPES[2]),
    ok={202: ImportEnvelope},
    errors=(403, 404, 409, 429),
    description="The package is checked at once (a bad one gets its 4xx); then every "
    "submission runs on the runner, and the problem's next version is written only if each "
    "did what its folder says. Follow it at `…/problems/imports/{import_id}`.",
)
async def import_package(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, ImportQuery)
    # Nothing is read for somebody who may not import here.
    await org_for(clients.engine, org_id, viewer, Action.PROBLEMS_MANAGE)
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in PACKAGE_TYPES:
        raise UnsupportedMediaType(
            "Send the package as application/zip", code="unsupported_media_type"
        )
    limit = clients.settings.package_max_bytes
    chunks: list[bytes] = []
    size = 0
    while (chunk := await request.stream.read()) is not None:  # type: ignore[union-attr]
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"The package is larger than {limit} bytes", code="package_too_large"
            )
        chunks.append(chunk)
    job = await service.start_import(clients, org_id, viewer, b"".join(chunks), query.slug)
    return json(dump(ImportEnvelope(problemImport=ImportOut.of(job))), status=202)


@bank_bp.get("/<org_id:str>/problems/imports/<import_id:str>")
@doc(
    summary="An import: queued, running, accepted (the version written) or refused (the report)",
    tag=BANK,
    ok={200: ImportEnvelope},
    errors=(403, 404),
)
async def get_import(
    request: Request, org_id: str, import_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    job = await service.import_of(clients, org_id, import_id, viewer)
    return json(dump(ImportEnvelope(problemImport=ImportOut.of(job))))


@bank_bp.get("/<org_id:str>/problems/<slug:str>")
@doc(
    summary="A problem's current version, hidden tests included (members)",
    tag=BANK,
    ok={200: ProblemVersionEnvelope},
    errors=(403, 404),
)
async def get_bank_problem(
    request: Request, org_id: str, slug: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return _version(await service.current(clients, org_id, slug, viewer))


@bank_bp.patch("/<org_id:str>/problems/<slug:str>")
@doc(
    summary="Change a problem: its next version (sessions keep the version they pinned)",
    tag=BANK,
    body=UpdateProblemIn,
    ok={200: ProblemVersionEnvelope},
    errors=(403, 404, 409),
)
async def update_problem(
    request: Request, org_id: str, slug: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, UpdateProblemIn)
    return _version(await service.update(clients, org_id, slug, viewer, data))


@bank_bp.delete("/<org_id:str>/problems/<slug:str>")
@doc(
    summary="Take a problem out of the bank (its versions stay for the sessions that pinned them)",
    tag=BANK,
    ok={204: None},
    errors=(403, 404),
)
async def delete_problem(
    request: Request, org_id: str, slug: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    await service.delete(clients, org_id, slug, viewer)
    return empty()


@bank_bp.get("/<org_id:str>/problems/<slug:str>/versions")
@doc(
    summary="A problem's versions, newest first", tag=BANK, ok={200: VersionList}, errors=(403, 404)
)
async def list_versions(
    request: Request, org_id: str, slug: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    docs = await service.versions(clients, org_id, slug, viewer)
    return json(dump(VersionList(versions=[VersionSummaryOut.of(d) for d in docs])))


@bank_bp.get("/<org_id:str>/problems/<slug:str>/versions/<version:int>")
@doc(
    summary="One version of a problem (also of a deleted one)",
    tag=BANK,
    ok={200: ProblemVersionEnvelope},
    errors=(403, 404),
)
async def get_version(
    request: Request, org_id: str, slug: str, version: int, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return _version(await service.version_of(clients, org_id, slug, version, viewer))


@bank_bp.get("/<org_id:str>/problems/<slug:str>/export")
@doc(
    summary="The problem as a Kattis package (2025-09), its current or a given version",
    tag=BANK,
    query=ExportQuery,
    ok={200: "application/zip"},
    errors=(403, 404),
)
async def export_problem(
    request: Request, org_id: str, slug: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, ExportQuery)
    found, package = await service.export(clients, org_id, slug, viewer, query.version)
    return raw(
        package,
        content_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{found.slug}-v{found.version}.zip"'
        },
    )
