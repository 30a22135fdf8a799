"""An organization's question bank: a problem (`problems`, the current version's summary, for
the list) and its versions (`problem_versions`, each written once and never changed).

A session pins one version by its `_id`, so a later edit never changes what a past candidate
saw or how their runs were judged. Deleting a problem removes it from the bank; its versions
stay for the sessions that pinned them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from odmantic import EmbeddedModel, Field, Index, Model
from odmantic.query import desc
from pydantic import BaseModel

from tq.core.time import utcnow
from tq.problems.judging import Comparison

Difficulty = Literal["Easy", "Medium", "Hard"]
StatementFormat = Literal["markdown", "latex"]
# The folders of a Kattis package's submissions, and the verdict each expects.
SubmissionKind = Literal[
    "accepted", "rejected", "wrong_answer", "time_limit_exceeded", "run_time_error", "brute_force"
]
ProblemOrigin = Literal["api", "import", "library"]


class ProblemTest(EmbeddedModel):
    name: str
    input: str
    answer: str
    sample: bool  # shown to the candidate; every other test is hidden


class SourceFile(BaseModel):
    name: str
    content: str


class Checker(BaseModel):
    """A program that judges an answer (Kattis's output validator protocol): run in the
    sandbox as `<program> input answer feedback_dir [args]` with the output on stdin; exit 42
    accepts, 43 rejects. (A pydantic model: ODMantic cannot store an optional embedded
    model.)"""

    language: str
    files: list[SourceFile]
    args: list[str] = []


class Submission(EmbeddedModel):
    """A solution the package came with, proven on our runner when it was imported."""

    kind: SubmissionKind
    name: str
    language: str
    source: str


class ProblemVersion(Model):
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    org_id: ObjectId = Field(key_name="orgId")
    slug: str
    version: int
    title: str
    statement: str
    statement_format: StatementFormat = Field(default="markdown", key_name="statementFormat")
    difficulty: Difficulty
    tags: list[str] = Field(default=[])
    tests: list[ProblemTest] = Field(default=[])
    time_limit_s: float = Field(key_name="timeLimitS")
    memory_mb: int = Field(key_name="memoryMb")
    comparison: Comparison = "tokens"
    validator_flags: list[str] = Field(default=[], key_name="validatorFlags")
    starter_code: dict[str, str] = Field(default={}, key_name="starterCode")
    checker: Checker | None = None
    submissions: list[Submission] = Field(default=[])
    # A package's input validators, kept as they came to be exported again (the runner ran
    # each on every test input when the package was imported).
    input_validators: list[SourceFile] = Field(default=[], key_name="inputValidators")
    # problem.yaml's uuid, credits, source, license and rights_owner, as the package gave them.
    provenance: dict[str, Any] = Field(default={})
    origin: ProblemOrigin = "api"
    import_id: ObjectId | None = Field(default=None, key_name="importId")
    created_by: ObjectId | None = Field(default=None, key_name="createdBy")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")

    model_config = {
        "collection": "problem_versions",
        "indexes": lambda: [
            # one number per version of a slug, for ever (deleted problems' versions stay)
            Index(
                ProblemVersion.org_id,
                ProblemVersion.slug,
                desc(ProblemVersion.version),
                unique=True,
                name="org_slug_version",
            ),
            Index(ProblemVersion.import_id, name="import"),
        ],
    }


class Problem(Model):
    """The bank's entry: what the list shows of the current version."""

    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    org_id: ObjectId = Field(key_name="orgId")
    slug: str
    version: int
    version_id: ObjectId = Field(key_name="versionId")
    title: str
    difficulty: Difficulty
    tags: list[str] = Field(default=[])
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {
        "collection": "problems",
        "indexes": lambda: [
            Index(Problem.org_id, Problem.slug, unique=True, name="org_slug"),
        ],
    }


ImportStatus = Literal["queued", "running", "accepted", "refused", "failed"]


class ProblemImport(Model):
    """A package being proven: stored with its bytes until the runner has judged every
    submission; then the problem's new version is written (accepted) or nothing is (refused,
    with the report)."""

    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    org_id: ObjectId = Field(key_name="orgId")
    created_by: ObjectId = Field(key_name="createdBy")
    slug: str
    package: bytes | None = None  # dropped once the import ended
    status: ImportStatus = "queued"
    report: list[dict[str, object]] = Field(default=[])
    error: str | None = None
    attempts: int = 0
    version: int | None = None  # the version it wrote
    time_limit_s: float | None = Field(default=None, key_name="timeLimitS")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    finished_at: datetime | None = Field(default=None, key_name="finishedAt")

    model_config = {
        "collection": "problem_imports",
        "indexes": lambda: [
            Index(ProblemImport.org_id, desc(ProblemImport.id), name="org_newest"),
            Index(ProblemImport.created_by, desc(ProblemImport.id), name="creator_newest"),
        ],
    }
