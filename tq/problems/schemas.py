from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from tq.core.schemas import PLAIN_LINE_CHECK, Body, Query, plain_line_schema
from tq.problems.bank import LibraryProblem, ProblemDifficulty, starter_code
from tq.problems.models import Problem, ProblemImport, ProblemVersion, StatementFormat


class ExampleOut(BaseModel):
    input: str
    output: str
    explanation: str | None = None


class DescriptionOut(BaseModel):
    text: str
    notes: list[str]


class ProblemSummaryOut(BaseModel):
    id: str = Field(description="the slug, as the frontend names it")
    slug: str
    title: str
    difficulty: ProblemDifficulty
    category: str

    @classmethod
    def of(cls, problem: LibraryProblem) -> ProblemSummaryOut:
        return cls(
            id=problem.slug,
            slug=problem.slug,
            title=problem.title,
            difficulty=problem.difficulty,
            category=problem.category,
        )


class ProblemOut(ProblemSummaryOut):
    description: DescriptionOut
    inputFormat: str
    outputFormat: str
    examples: list[ExampleOut]
    constraints: list[str]
    starterCode: dict[str, str] = Field(description="a program that reads stdin, per language")
    testCount: int = Field(description="examples plus hidden tests a run is judged against")

    @classmethod
    def of(cls, problem: LibraryProblem) -> ProblemOut:
        return cls(
            **ProblemSummaryOut.of(problem).model_dump(),
            description=DescriptionOut(text=problem.text, notes=list(problem.notes)),
            inputFormat=problem.input_format,
            outputFormat=problem.output_format,
            examples=[
                ExampleOut(input=e.input, output=e.output, explanation=e.explanation)
                for e in problem.examples
            ],
            constraints=list(problem.constraints),
            starterCode=starter_code(problem),
            testCount=len(problem.tests),
        )


class ProblemList(BaseModel):
    problems: list[ProblemSummaryOut]


class ProblemEnvelope(BaseModel):
    problem: ProblemOut


# --- an organization's bank

BankSlug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=64)
]
TestName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
# Kattis keywords as tags: lower-case words (the import keeps those that are).
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9 +#._-]{0,39}$")]
Line = Annotated[
    str, PLAIN_LINE_CHECK, StringConstraints(min_length=1, max_length=200), plain_line_schema(200)
]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z0-9+#-]{1,20}$")]
FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
ValidatorFlag = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class TestIn(Body):
    name: TestName | None = Field(
        default=None, description="unique within its kind; default: its position"
    )
    input: Annotated[str, StringConstraints(max_length=8 << 20)]
    answer: Annotated[str, StringConstraints(max_length=8 << 20)]
    sample: bool = Field(default=False, description="shown to the candidate; others are hidden")


class SourceFileIn(Body):
    name: FileName
    content: Annotated[str, StringConstraints(min_length=1, max_length=64 * 1024)]


class CheckerIn(Body):
    """Kattis's output validator protocol: run as `<program> input answer feedback_dir
    [args]` with the program's output on stdin; exit 42 accepts, 43 rejects."""

    language: Language
    files: Annotated[list[SourceFileIn], Field(min_length=1, max_length=10)]
    args: Annotated[list[ValidatorFlag], Field(max_length=10)] = []


class ProblemFields(Body):
    title: Line | SkipJsonSchema[None] = None
    statement: (
        Annotated[str, StringConstraints(min_length=1, max_length=1 << 20)] | SkipJsonSchema[None]
    ) = Field(default=None, description="Markdown")
    difficulty: ProblemDifficulty | SkipJsonSchema[None] = None
    tags: Annotated[list[Tag], Field(max_length=20)] | SkipJsonSchema[None] = None
    tests: Annotated[list[TestIn], Field(min_length=1)] | SkipJsonSchema[None] = None
    timeLimitS: (
        Annotated[float, Field(ge=0.05, description="per test, seconds")] | SkipJsonSchema[None]
    ) = None
    memoryMb: Annotated[int, Field(ge=32)] | SkipJsonSchema[None] = None
    starterCode: (
        dict[str, Annotated[str, StringConstraints(max_length=64 * 1024)]] | SkipJsonSchema[None]
    ) = None
    checker: CheckerIn | None = Field(default=None, description="null: compare tokens")
    validatorFlags: Annotated[list[ValidatorFlag], Field(max_length=10)] | SkipJsonSchema[None] = (
        Field(
            default=None,
            description="Kattis default output validator flags: case_sensitive, "
            "space_change_sensitive, float_tolerance e, float_relative_tolerance e, "
            "float_absolute_tolerance e",
        )
    )

    @model_validator(mode="after")
    def no_nulls(self) -> ProblemFields:
        for name in self.model_fields_set - {"checker"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class CreateProblemIn(ProblemFields):
    model_config = ConfigDict(
        json_schema_extra={"required": ["slug", "title", "statement", "difficulty", "tests"]}
    )

    slug: BankSlug

    @model_validator(mode="after")
    def complete(self) -> CreateProblemIn:
        for name in ("title", "statement", "difficulty", "tests"):
            if getattr(self, name) is None:
                raise ValueError(f"{name} is required")
        return self


class UpdateProblemIn(ProblemFields):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    @model_validator(mode="after")
    def something(self) -> UpdateProblemIn:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        return self


class CopyProblemIn(Body):
    slug: BankSlug = Field(description="a problem of the public library (GET /api/problems)")


class ImportQuery(Query):
    slug: BankSlug | None = Field(
        default=None, description="the problem's slug; default: the package's top folder"
    )


class ExportQuery(Query):
    version: Annotated[int, Field(ge=1, le=(1 << 31) - 1)] | None = Field(
        default=None, description="default: the current version"
    )


class BankPageQuery(Query):
    limit: Annotated[int, Field(ge=1, le=1000)] = 50
    after: BankSlug | None = Field(default=None, description="the last slug of the page before")


class TestOut(BaseModel):
    name: str
    input: str
    answer: str
    sample: bool


class SourceFileOut(BaseModel):
    name: str
    content: str


class CheckerOut(BaseModel):
    language: str
    files: list[SourceFileOut]
    args: list[str]


class SubmissionOut(BaseModel):
    kind: str
    name: str
    language: str
    source: str


class BankProblemSummaryOut(BaseModel):
    slug: str
    version: int
    title: str
    difficulty: ProblemDifficulty
    tags: list[str]
    updatedAt: datetime

    @classmethod
    def of(cls, problem: Problem) -> BankProblemSummaryOut:
        return cls(
            slug=problem.slug,
            version=problem.version,
            title=problem.title,
            difficulty=problem.difficulty,
            tags=problem.tags,
            updatedAt=problem.updated_at,
        )


class BankPage(BaseModel):
    problems: list[BankProblemSummaryOut]
    nextCursor: str | None


class ProblemVersionOut(BaseModel):
    """A version as its organization's members read it: hidden tests, checker and proven
    submissions included."""

    slug: str
    version: int
    title: str
    statement: str
    statementFormat: StatementFormat
    difficulty: ProblemDifficulty
    tags: list[str]
    tests: list[TestOut]
    timeLimitS: float
    memoryMb: int
    comparison: str
    validatorFlags: list[str]
    starterCode: dict[str, str]
    checker: CheckerOut | None
    submissions: list[SubmissionOut]
    provenance: dict[str, Any] = Field(
        description="a package's uuid, credits, source, license, rights_owner, as given"
    )
    origin: str
    createdBy: str | None
    createdAt: datetime

    @classmethod
    def of(cls, v: ProblemVersion) -> ProblemVersionOut:
        return cls(
            slug=v.slug,
            version=v.version,
            title=v.title,
            statement=v.statement,
            statementFormat=v.statement_format,
            difficulty=v.difficulty,
            tags=v.tags,
            tests=[
                TestOut(name=t.name, input=t.input, answer=t.answer, sample=t.sample)
                for t in v.tests
            ],
            timeLimitS=v.time_limit_s,
            memoryMb=v.memory_mb,
            comparison=v.comparison,
            validatorFlags=v.validator_flags,
            starterCode=v.starter_code,
            checker=None
            if v.checker is None
            else CheckerOut(
                language=v.checker.language,
                files=[SourceFileOut(name=f.name, content=f.content) for f in v.checker.files],
                args=v.checker.args,
            ),
            submissions=[
                SubmissionOut(kind=s.kind, name=s.name, language=s.language, source=s.source)
                for s in v.submissions
            ],
            provenance=v.provenance,
            origin=v.origin,
            createdBy=str(v.created_by) if v.created_by else None,
            createdAt=v.created_at,
        )


class ProblemVersionEnvelope(BaseModel):
    problem: ProblemVersionOut


class VersionSummaryOut(BaseModel):
    version: int
    title: str
    origin: str
    createdBy: str | None
    createdAt: datetime

    @classmethod
    def of(cls, doc: dict[str, Any]) -> VersionSummaryOut:
        """From a stored version read with only these fields."""
        return cls(
            version=doc["version"],
            title=doc["title"],
            origin=doc.get("origin", "api"),
            createdBy=str(doc["createdBy"]) if doc.get("createdBy") else None,
            createdAt=doc["createdAt"],
        )


class VersionList(BaseModel):
    versions: list[VersionSummaryOut]


class SampleOut(BaseModel):
    input: str
    output: str


class PinnedProblemOut(BaseModel):
    """What a session's people, the candidate included, read of its problem: the pinned
    version, its samples only (never a hidden test, the checker or the solutions)."""

    slug: str
    version: int | None = Field(description="null: a problem of the public library")
    title: str
    statement: str
    statementFormat: StatementFormat
    difficulty: ProblemDifficulty
    samples: list[SampleOut]
    starterCode: dict[str, str]
    timeLimitS: float | None
    memoryMb: int | None
    testCount: int

    @classmethod
    def of(cls, v: ProblemVersion) -> PinnedProblemOut:
        return cls(
            slug=v.slug,
            version=v.version,
            title=v.title,
            statement=v.statement,
            statementFormat=v.statement_format,
            difficulty=v.difficulty,
            samples=[SampleOut(input=t.input, output=t.answer) for t in v.tests if t.sample],
            starterCode=v.starter_code,
            timeLimitS=v.time_limit_s,
            memoryMb=v.memory_mb,
            testCount=len(v.tests),
        )

    @classmethod
    def of_library(cls, problem: LibraryProblem, statement: str) -> PinnedProblemOut:
        return cls(
            slug=problem.slug,
            version=None,
            title=problem.title,
            statement=statement,
            statementFormat="markdown",
            difficulty=problem.difficulty,
            samples=[SampleOut(input=e.input, output=e.output) for e in problem.examples],
            starterCode=starter_code(problem),
            timeLimitS=None,
            memoryMb=None,
            testCount=len(problem.tests),
        )


class PinnedProblemEnvelope(BaseModel):
    problem: PinnedProblemOut


class ImportReportLine(BaseModel):
    submission: str
    language: str
    expected: str
    verdict: str
    ok: bool
    test: str | None = None
    timeMs: int | None = None
    detail: str | None = None


class ImportOut(BaseModel):
    id: str
    slug: str
    status: str
    version: int | None
    timeLimitS: float | None = None
    report: list[ImportReportLine]
    error: str | None
    createdAt: datetime
    finishedAt: datetime | None

    @classmethod
    def of(cls, job: ProblemImport) -> ImportOut:
        return cls(
            id=str(job.id),
            slug=job.slug,
            status=job.status,
            version=job.version,
            timeLimitS=job.time_limit_s,
            report=[ImportReportLine.model_validate(line) for line in job.report],
            error=job.error,
            createdAt=job.created_at,
            finishedAt=job.finished_at,
        )


class ImportEnvelope(BaseModel):
    problemImport: ImportOut
