"""An organization's scorecard templates: `/api/orgs/{org_id}/scorecard-templates`."""

from __future__ import annotations

from sanic import Blueprint, Request, empty, json
from sanic.response import HTTPResponse

from tq.auth.dependencies import CurrentUser
from tq.core.clients import Clients
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.scorecard_templates import service
from tq.scorecard_templates.models import TemplateVersion
from tq.scorecard_templates.schemas import (
    CreateTemplateIn,
    DefaultTemplateIn,
    DefaultTemplateOut,
    TemplateEnvelope,
    TemplatePage,
    TemplatePageQuery,
    TemplateSummaryOut,
    TemplateVersionList,
    TemplateVersionOut,
    UpdateTemplateIn,
)

bp = Blueprint("scorecard_templates", url_prefix="/api/orgs")
TAG = "scorecard templates"


def _template(found: TemplateVersion, status: int = 200) -> HTTPResponse:
    return json(dump(TemplateEnvelope(template=TemplateVersionOut.of(found))), status=status)


@bp.get("/<org_id:str>/scorecard-templates")
@doc(
    summary="The organization's scorecard templates by slug, paged",
    tag=TAG,
    query=TemplatePageQuery,
    ok={200: TemplatePage},
    errors=(403, 404),
)
async def list_templates(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, TemplatePageQuery)
    found, more, default = await service.list_templates(
        clients, org_id, viewer, query.after, query.limit
    )
    return json(
        dump(
            TemplatePage(
                templates=[TemplateSummaryOut.of(t, default) for t in found],
                nextCursor=found[-1].slug if more and found else None,
            )
        )
    )


@bp.post("/<org_id:str>/scorecard-templates")
@doc(
    summary="Add a scorecard template (version 1; owners, admins)",
    tag=TAG,
    body=CreateTemplateIn,
    ok={201: TemplateEnvelope},
    errors=(403, 404, 409),
)
async def create_template(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, CreateTemplateIn)
    return _template(await service.create(clients, org_id, viewer, data), 201)


@bp.put("/<org_id:str>/scorecard-templates/default")
@doc(
    summary="The template new sessions pin when they name none (owners, admins)",
    tag=TAG,
    body=DefaultTemplateIn,
    ok={200: DefaultTemplateOut},
    errors=(403, 404),
)
async def set_default(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, DefaultTemplateIn)
    slug = await service.set_default(clients, org_id, viewer, data.slug)
    return json(dump(DefaultTemplateOut(slug=slug)))


@bp.get("/<org_id:str>/scorecard-templates/<slug:str>")
@doc(summary="A template's current version", tag=TAG, ok={200: TemplateEnvelope}, errors=(403, 404))
async def get_template(
    request: Request, org_id: str, slug: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return _template(await service.current(clients, org_id, slug, viewer))


@bp.patch("/<org_id:str>/scorecard-templates/<slug:str>")
@doc(
    summary="Change a template: its next version (sessions keep the version they pinned)",
    tag=TAG,
    body=UpdateTemplateIn,
    ok={200: TemplateEnvelope},
    errors=(403, 404, 409),
)
async def update_template(
    request: Request, org_id: str, slug: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, UpdateTemplateIn)
    return _template(await service.update(clients, org_id, slug, viewer, data))


@bp.delete("/<org_id:str>/scorecard-templates/<slug:str>")
@doc(
    summary="Take a template out of the list (sessions keep the version they pinned)",
    tag=TAG,
    ok={204: None},
    errors=(403, 404),
)
async def delete_template(
    request: Request, org_id: str, slug: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    await service.delete(clients, org_id, slug, viewer)
    return empty()


@bp.get("/<org_id:str>/scorecard-templates/<slug:str>/versions")
@doc(
    summary="A template's versions, newest first",
    tag=TAG,
    ok={200: TemplateVersionList},
    errors=(403, 404),
)
async def list_versions(
    request: Request, org_id: str, slug: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    found = await service.versions(clients, org_id, slug, viewer)
    return json(dump(TemplateVersionList(versions=[TemplateVersionOut.of(v) for v in found])))


@bp.get("/<org_id:str>/scorecard-templates/<slug:str>/versions/<version:int>")
@doc(summary="One version of a template", tag=TAG, ok={200: TemplateEnvelope}, errors=(403, 404))
async def get_version(
    request: Request, org_id: str, slug: str, version: int, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return _template(await service.version_of(clients, org_id, slug, version, viewer))
