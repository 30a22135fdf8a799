"""An organization's scorecard templates: named rubrics whose versions are written once. A
session pins one version at creation and copies its criteria, so editing a template never
changes a past session's scorecards, summary or record."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from odmantic import EmbeddedModel, Field, Index, Model
from odmantic.query import desc

from tq.core.time import utcnow


class TemplateCriterion(EmbeddedModel):
    key: str  # what scorecards rate (a session's criterion)
    title: str
    description: str = ""
    # What each rating means: "1".."4" (BSON keys are strings).
    ratings: dict[str, str] = Field(default={})


class TemplateVersion(Model):
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    org_id: ObjectId = Field(key_name="orgId")
    slug: str
    version: int
    name: str
    description: str = ""
    criteria: list[TemplateCriterion]
    created_by: ObjectId | None = Field(default=None, key_name="createdBy")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")

    model_config = {
        "collection": "scorecard_template_versions",
        "indexes": lambda: [
            Index(
                TemplateVersion.org_id,
                TemplateVersion.slug,
                desc(TemplateVersion.version),
                unique=True,
                name="org_slug_version",
            ),
        ],
    }


class ScorecardTemplate(Model):
    """The organization's list entry: the current version's summary."""

    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    org_id: ObjectId = Field(key_name="orgId")
    slug: str
    version: int
    version_id: ObjectId = Field(key_name="versionId")
    name: str
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {
        "collection": "scorecard_templates",
        "indexes": lambda: [
            Index(ScorecardTemplate.org_id, ScorecardTemplate.slug, unique=True, name="org_slug"),
        ],
    }
