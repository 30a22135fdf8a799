from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from tq.core.schemas import PLAIN_LINE_CHECK, Body, Criterion, Query, plain_line_schema
from tq.scorecard_templates.models import ScorecardTemplate, TemplateVersion

TemplateSlug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=64)
]
# A template of the organization; `@n` pins version n.
TemplateRef = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:@[1-9][0-9]{0,8})?$", max_length=74),
]
Line = Annotated[
    str, PLAIN_LINE_CHECK, StringConstraints(min_length=1, max_length=200), plain_line_schema(200)
]
Text = Annotated[str, StringConstraints(max_length=2000)]


class RatingsIn(Body):
    """What each rating means."""

    model_config = ConfigDict(populate_by_name=True)

    one: Text = Field(alias="1")
    two: Text = Field(alias="2")
    three: Text = Field(alias="3")
    four: Text = Field(alias="4")


class CriterionIn(Body):
    key: Criterion
    title: Line
    description: Text = ""
    ratings: RatingsIn


class TemplateFields(Body):
    name: Line | SkipJsonSchema[None] = None
    description: Text | SkipJsonSchema[None] = None
    criteria: Annotated[list[CriterionIn], Field(min_length=1)] | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def valid(self) -> TemplateFields:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if self.criteria is not None:
            keys = [c.key for c in self.criteria]
            if len(set(keys)) != len(keys):
                raise ValueError("criteria keys must be unique")
        return self


class CreateTemplateIn(TemplateFields):
    model_config = ConfigDict(json_schema_extra={"required": ["slug", "name", "criteria"]})

    slug: TemplateSlug

    @model_validator(mode="after")
    def complete(self) -> CreateTemplateIn:
        for name in ("name", "criteria"):
            if getattr(self, name) is None:
                raise ValueError(f"{name} is required")
        return self


class UpdateTemplateIn(TemplateFields):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    @model_validator(mode="after")
    def something(self) -> UpdateTemplateIn:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        return self


class DefaultTemplateIn(Body):
    slug: TemplateSlug | None = Field(description="null: no default (the default criteria)")


class TemplatePageQuery(Query):
    limit: Annotated[int, Field(ge=1, le=1000)] = 50
    after: TemplateSlug | None = Field(default=None, description="the last slug of the page before")


class CriterionOut(BaseModel):
    key: str
    title: str
    description: str
    ratings: dict[str, str] = Field(description="what each rating (1-4) means")


class TemplateVersionOut(BaseModel):
    slug: str
    version: int
    name: str
    description: str
    criteria: list[CriterionOut]
    createdBy: str | None
    createdAt: datetime

    @classmethod
    def of(cls, v: TemplateVersion) -> TemplateVersionOut:
        return cls(
            slug=v.slug,
            version=v.version,
            name=v.name,
            description=v.description,
            criteria=[
                CriterionOut(key=c.key, title=c.title, description=c.description, ratings=c.ratings)
                for c in v.criteria
            ],
            createdBy=str(v.created_by) if v.created_by else None,
            createdAt=v.created_at,
        )


class TemplateEnvelope(BaseModel):
    template: TemplateVersionOut


class TemplateSummaryOut(BaseModel):
    slug: str
    version: int
    name: str
    isDefault: bool
    updatedAt: datetime

    @classmethod
    def of(cls, t: ScorecardTemplate, default: str | None) -> TemplateSummaryOut:
        return cls(
            slug=t.slug,
            version=t.version,
            name=t.name,
            isDefault=t.slug == default,
            updatedAt=t.updated_at,
        )


class TemplatePage(BaseModel):
    templates: list[TemplateSummaryOut]
    nextCursor: str | None


class TemplateVersionList(BaseModel):
    versions: list[TemplateVersionOut]


class DefaultTemplateOut(BaseModel):
    slug: str | None


class RubricOut(BaseModel):
    """A session's pinned template, as its scorecards show it."""

    template: str
    version: int
    name: str
    criteria: list[CriterionOut]

    @classmethod
    def of(cls, v: TemplateVersion) -> RubricOut:
        shown = TemplateVersionOut.of(v)
        return cls(template=v.slug, version=v.version, name=v.name, criteria=shown.criteria)
