"""Request and response shapes: Piston's own (so its clients only change the base URL) and the
session runs'."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from tq.core.schemas import NON_BLANK, Body, Query
from tq.runner.languages import LANGUAGES, Runtime
from tq.runner.models import CodeRun, CodeRunStatus

# The names and aliases a runner may serve (matched case-insensitively); which of them this
# deployment serves is GET /api/v2/piston/runtimes.
LANGUAGE_NAMES = sorted({name for spec in LANGUAGES for name in (spec.name, *spec.aliases)})
LanguageName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    Field(json_schema_extra={"enum": LANGUAGE_NAMES}),
]
# Non-blank source: checked by the service (error `empty_source`), declared here for the spec.
Source = Annotated[str, Field(json_schema_extra={"pattern": NON_BLANK})]
Verdict = Literal[
    "ok",
    "accepted",
    "wrong_answer",
    "runtime_error",
    "compile_error",
    "time_limit",
    "memory_limit",
    "output_limit",
    "killed",
]


# --- Piston (https://github.com/engineer-man/piston, API v2)


class PistonFile(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Piston clients may send `encoding`
    name: Annotated[str | None, Field(max_length=128)] = None
    content: Source


class PistonExecuteIn(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Piston's memory limits etc. are ours to set
    language: LanguageName
    version: Annotated[str, Field(max_length=32, description="accepted, not matched")] = "*"
    files: Annotated[list[PistonFile], Field(min_length=1, max_length=20)]
    stdin: str = ""
    args: Annotated[list[Annotated[str, Field(max_length=1000)]], Field(max_length=32)] = []
    compile_timeout: Annotated[int | None, Field(ge=1, description="ms, capped by ours")] = None
    run_timeout: Annotated[int | None, Field(ge=1, description="ms, capped by ours")] = None


class PistonStage(BaseModel):
    stdout: str
    stderr: str
    output: str
    code: int | None
    signal: str | None
    status: str | None = Field(
        description="Piston's code when a limit ended it: TO (time), OL (output), "
        "ML (memory), SG (signal), RE (runtime error); null when it exited 0"
    )
    message: str | None
    wall_time: int = Field(description="ms")
    truncated: bool


class PistonExecuteOut(BaseModel):
    # Piston's order: compile (when there is one) before run.
    language: str
    version: str
    compile: PistonStage | None = None
    run: PistonStage


class RuntimeOut(BaseModel):
    language: str
    version: str
    aliases: list[str]

    @classmethod
    def of(cls, runtime: Runtime) -> RuntimeOut:
        return cls(
            language=runtime.language, version=runtime.version, aliases=list(runtime.aliases)
        )


# --- session runs


class RunIn(Body):
    language: Annotated[
        LanguageName | SkipJsonSchema[None],
        Field(description="default: the shared document's meta.language"),
    ] = None
    source: Annotated[
        Source | SkipJsonSchema[None],
        Field(
            description="the program (one file); absent: the session's shared document as it "
            "is now (its `code`), and the run records which state of it ran"
        ),
    ] = None
    stdin: str = ""
    problemId: Annotated[
        str | None,
        StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100),
        Field(
            description="judge against this problem's tests: the session's problem (its "
            "pinned version) or one of the public library (GET /api/problems)"
        ),
    ] = None

    @model_validator(mode="after")
    def absent_not_null(self) -> RunIn:
        # Absent means "from the shared document"; null is not a value the spec allows.
        for name in ("language", "source"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null (leave it out instead)")
        return self


class TestResultOut(BaseModel):
    index: int
    hidden: bool
    passed: bool
    verdict: Verdict
    timeMs: int | None = Field(
        None, description="visible tests only (a hidden test's time could tell its input)"
    )
    input: str | None = Field(None, description="visible tests only")
    expected: str | None = Field(None, description="visible tests only")
    actual: str | None = Field(None, description="visible tests only")


class RunOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    sessionId: str
    userId: str
    language: str
    version: str
    problemId: str | None
    status: CodeRunStatus
    verdict: Verdict | None
    stdout: str
    stderr: str
    exitCode: int | None
    signal: str | None
    timeMs: int | None
    memoryKb: int | None = Field(description="not measured by this runner: null")
    truncated: bool
    tests: list[TestResultOut] | None
    error: str | None = Field(description="why the runner failed the run")
    codeUpdateId: str | None = Field(
        description="a run of the shared document: the last stored update of the state it ran"
    )
    source: str = Field(description="the code it ran")
    createdAt: datetime
    startedAt: datetime | None
    finishedAt: datetime | None

    @classmethod
    def of(cls, run: CodeRun) -> RunOut:
        return cls(
            _id=str(run.id),
            sessionId=str(run.session_id),
            userId=str(run.user_id),
            language=run.language,
            version=run.version,
            problemId=run.problem_id,
            status=run.status,
            verdict=run.verdict,  # type: ignore[arg-type]
            stdout=run.stdout,
            stderr=run.stderr,
            exitCode=run.exit_code,
            signal=run.signal,
            timeMs=run.time_ms,
            memoryKb=run.memory_kb,
            truncated=run.truncated,
            tests=[TestResultOut(**test) for test in run.tests] if run.tests is not None else None,
            error=run.error,
            codeUpdateId=str(run.code_update_id) if run.code_update_id else None,
            source=run.source,
            createdAt=run.created_at,
            startedAt=run.started_at,
            finishedAt=run.finished_at,
        )


class RunEnvelope(BaseModel):
    run: RunOut


class RunDetail(BaseModel):
    run: RunOut
    previousRunId: str | None = Field(description="the session's run before it, if any")
    diffToPrevious: str = Field(
        description="a unified diff from the previous run's code to this one's (from nothing "
        "for the first)"
    )


class ListRunsQuery(Query):
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    before: Annotated[
        str | None, Field(pattern=r"^[0-9a-f]{24}$", description="a run id: older runs only")
    ] = None


class RunPage(BaseModel):
    runs: list[RunOut]
    nextCursor: str | None = Field(description="pass as `before` for the next page")


class RuntimeList(RootModel[list[RuntimeOut]]):
    """Piston's runtimes answer: a bare JSON array."""
