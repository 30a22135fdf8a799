"""Scorecard templates: versions written once, the list entry moved forward after each, the
organization's default, and the version a new session pins. The one owner of
`scorecard_templates` and `scorecard_template_versions`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine

from tq.core.clients import Clients
from tq.core.errors import BadRequest, Conflict, NotFound
from tq.core.time import utcnow
from tq.core.versions import Versioned
from tq.orgs import audit
from tq.orgs import store as orgs_store
from tq.orgs.models import Organization
from tq.orgs.permissions import Action
from tq.orgs.service import org_for
from tq.scorecard_templates.models import ScorecardTemplate, TemplateCriterion, TemplateVersion
from tq.scorecard_templates.schemas import CreateTemplateIn, TemplateFields, UpdateTemplateIn
from tq.users.models import User


def template_not_found() -> NotFound:
    return NotFound("Scorecard template not found", code="template_not_found")


TEMPLATES: Versioned[ScorecardTemplate, TemplateVersion] = Versioned(
    entry=ScorecardTemplate,
    version=TemplateVersion,
    summary=lambda v: {"name": v.name, "updatedAt": v.created_at},
    missing=template_not_found,
    exists=lambda slug: Conflict(f"A template {slug!r} exists", code="template_exists"),
    changed=lambda: Conflict("The template changed meanwhile; retry", code="conflict"),
)


def _apply(fields: dict[str, Any], data: TemplateFields) -> dict[str, Any]:
    sent = data.model_fields_set
    if "name" in sent:
        fields["name"] = data.name
    if "description" in sent:
        fields["description"] = data.description
    if "criteria" in sent and data.criteria is not None:
        fields["criteria"] = [
            TemplateCriterion(
                key=c.key,
                title=c.title,
                description=c.description,
                ratings={
                    "1": c.ratings.one,
                    "2": c.ratings.two,
                    "3": c.ratings.three,
                    "4": c.ratings.four,
                },
            )
            for c in data.criteria
        ]
    return fields


# --- reading


async def list_templates(
    clients: Clients, org_id: str, actor: User, after: str | None, limit: int
) -> tuple[list[ScorecardTemplate], bool, str | None]:
    org = await org_for(clients.engine, org_id, actor, Action.ORG_READ)
    found, more = await TEMPLATES.page(clients.engine, org.id, after, limit)
    return found, more, org.default_template


async def current(clients: Clients, org_id: str, slug: str, actor: User) -> TemplateVersion:
    org = await org_for(clients.engine, org_id, actor, Action.ORG_READ)
    return await TEMPLATES.current(clients.engine, org.id, slug)


async def version_of(
    clients: Clients, org_id: str, slug: str, version: int, actor: User
) -> TemplateVersion:
    org = await org_for(clients.engine, org_id, actor, Action.ORG_READ)
    found = await TEMPLATES.find_version(clients.engine, org.id, slug, version)
    if found is None:
        raise template_not_found()
    return found


async def versions(clients: Clients, org_id: str, slug: str, actor: User) -> list[TemplateVersion]:
    org = await org_for(clients.engine, org_id, actor, Action.ORG_READ)
    docs = await TEMPLATES.history(clients.engine, org.id, slug)
    return [TemplateVersion.model_validate_doc(d) for d in docs]


# --- writing


async def _write_version(
    clients: Clients,
    org: Organization,
    fields: dict[str, Any],
    actor: User,
    audit_type: str,
    *,
    must_exist: bool,
    based_on: int | None = None,
) -> TemplateVersion:
    """The next version of `fields['slug']` (tq.core.versions) and its audit entry."""
    if len(fields["criteria"]) > clients.settings.template_max_criteria:
        raise BadRequest(
            f"At most {clients.settings.template_max_criteria} criteria", code="too_many_criteria"
        )

    def make(number: int) -> TemplateVersion:
        return TemplateVersion(
            **{
                **fields,
                "org_id": org.id,
                "version": number,
                "created_by": actor.id,
                "created_at": utcnow(),
            }
        )

    version = await TEMPLATES.write(
        clients.engine, make, org.id, fields["slug"], must_exist=must_exist, based_on=based_on
    )
    await audit.record_now(
        clients,
        org.id,
        audit.audit_entry(audit_type, actor.id, slug=version.slug, version=version.version),
    )
    return version


async def create(
    clients: Clients, org_id: str, actor: User, data: CreateTemplateIn
) -> TemplateVersion:
    org = await org_for(clients.engine, org_id, actor, Action.TEMPLATES_MANAGE)
    fields = _apply({"slug": data.slug, "description": ""}, data)
    return await _write_version(clients, org, fields, actor, "template.created", must_exist=False)


async def update(
    clients: Clients, org_id: str, slug: str, actor: User, data: UpdateTemplateIn
) -> TemplateVersion:
    org = await org_for(clients.engine, org_id, actor, Action.TEMPLATES_MANAGE)
    previous = await TEMPLATES.current(clients.engine, org.id, slug)
    fields = previous.model_dump(exclude={"id", "org_id", "version", "created_by", "created_at"})
    return await _write_version(
        clients,
        org,
        _apply(fields, data),
        actor,
        "template.updated",
        must_exist=True,
        based_on=previous.version,
    )


async def delete(clients: Clients, org_id: str, slug: str, actor: User) -> None:
    """Out of the list (and no longer the default); sessions keep the version they pinned."""
    org = await org_for(clients.engine, org_id, actor, Action.TEMPLATES_MANAGE)
    await TEMPLATES.remove(clients.engine, org.id, slug)
    await orgs_store.set_default_template(clients.engine, org.id, None, only_if=slug)
    await audit.record_now(
        clients, org.id, audit.audit_entry("template.deleted", actor.id, slug=slug)
    )


async def set_default(clients: Clients, org_id: str, actor: User, slug: str | None) -> str | None:
    org = await org_for(clients.engine, org_id, actor, Action.TEMPLATES_MANAGE)
    if slug is not None and await TEMPLATES.find_entry(clients.engine, org.id, slug) is None:
        raise template_not_found()
    await orgs_store.set_default_template(clients.engine, org.id, slug)
    await audit.record_now(
        clients, org.id, audit.audit_entry("template.default_set", actor.id, slug=slug)
    )
    return slug


async def forget_org_templates(engine: AIOEngine, org_id: ObjectId) -> None:
    """A deleted organization's templates go from its list; pinned versions stay."""
    await TEMPLATES.forget_org(engine, org_id)


# --- what a session pins


@dataclass(frozen=True)
class TemplatePin:
    slug: str
    version: int
    version_id: ObjectId
    criteria: list[str]


async def pin(engine: AIOEngine, org_id: ObjectId, ref: str | None) -> TemplatePin | None:
    """`slug` or `slug@version` of the organization, else its default template (None: the
    organization has none)."""
    explicit = ref is not None
    if ref is None:
        ref = await orgs_store.default_template(engine, org_id)
        if ref is None:
            return None
    slug, _, number = ref.partition("@")
    version: int | None = int(number) if number else None
    if version is None:
        entry = await TEMPLATES.find_entry(engine, org_id, slug)
        if entry is None:
            if explicit:
                raise BadRequest(f"Unknown scorecard template {ref!r}", code="unknown_template")
            return None  # a default deleted meanwhile: the default criteria
        version = entry.version
    found = await TEMPLATES.find_version(engine, org_id, slug, version)
    if found is None:
        raise BadRequest(f"Unknown scorecard template {ref!r}", code="unknown_template")
    return TemplatePin(found.slug, found.version, found.id, [c.key for c in found.criteria])


async def pinned(engine: AIOEngine, version_id: ObjectId) -> TemplateVersion | None:
    return await TEMPLATES.by_id(engine, version_id)
