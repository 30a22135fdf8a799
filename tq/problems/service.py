"""An organization's question bank: versions written once, the bank's entry moved forward after
each, imports of Kattis packages handed to the runner to prove, exports, and what a session
pins. This module is the one owner of `problems`, `problem_versions` and `problem_imports`."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from pymongo import ReturnDocument

from config import Settings
from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
)
from tq.core.time import utcnow
from tq.core.versions import Versioned
from tq.jobs.registry import PROVE_PACKAGE
from tq.orgs import audit
from tq.orgs.permissions import Action
from tq.orgs.service import org_for
from tq.problems import bank, kattis
from tq.problems.judging import BadFlags, CheckerSpec, JudgeSpec, TestCase, parse_flags
from tq.problems.models import (
    Checker,
    Problem,
    ProblemImport,
    ProblemTest,
    ProblemVersion,
    SourceFile,
    Submission,
)
from tq.problems.schemas import (
    CreateProblemIn,
    PinnedProblemOut,
    ProblemFields,
    UpdateProblemIn,
)
from tq.users.models import User

log = logging.getLogger("tq.problems")
KNOWN_LANGUAGES = frozenset(kattis.LANGUAGE_OF.values())
DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MEMORY_MB = 256


def problem_not_found() -> NotFound:
    return NotFound("Problem not found", code="problem_not_found")


def package_limits(settings: Settings) -> kattis.PackageLimits:
    return kattis.PackageLimits(
        max_bytes=settings.package_max_bytes,
        max_unpacked_bytes=settings.package_max_unpacked_bytes,
        max_file_bytes=settings.package_max_file_bytes,
        max_files=settings.package_max_files,
        max_ratio=settings.package_max_ratio,
        max_submissions=settings.package_max_submissions,
        max_tests=settings.problem_max_tests,
        max_test_bytes=settings.problem_max_test_bytes,
        max_time_limit_s=settings.problem_max_time_limit_s,
        max_memory_mb=settings.problem_max_memory_mb,
        max_statement_bytes=settings.problem_max_statement_bytes,
    )


# --- what a version may hold (every limit a setting)


def check_version(settings: Settings, v: ProblemVersion) -> None:
    if not v.tests:
        raise BadRequest("A problem needs at least one test", code="no_tests")
    if len(v.tests) > settings.problem_max_tests:
        raise BadRequest(
            f"{len(v.tests)} tests; at most {settings.problem_max_tests}", code="too_many_tests"
        )
    names = [t.name for t in v.tests]
    if len(set(names)) != len(names):
        raise BadRequest("Test names must be unique", code="duplicate_test")
    size = sum(len(t.input.encode()) + len(t.answer.encode()) for t in v.tests)
    if size > settings.problem_max_test_bytes:
        raise PayloadTooLarge(
            f"The tests hold {size} bytes; at most {settings.problem_max_test_bytes}",
            code="tests_too_large",
        )
    if len(v.statement.encode()) > settings.problem_max_statement_bytes:
        raise PayloadTooLarge(
            f"The statement is larger than {settings.problem_max_statement_bytes} bytes",
            code="statement_too_large",
        )
    if not 0 < v.time_limit_s <= settings.problem_max_time_limit_s:
        raise BadRequest(
            f"timeLimitS must be more than 0 and at most {settings.problem_max_time_limit_s}",
            code="limit_out_of_range",
        )
    if len(v.tests) * v.time_limit_s > settings.problem_max_judge_s:
        raise BadRequest(
            f"{len(v.tests)} tests of {v.time_limit_s} s each could take "
            f"{len(v.tests) * v.time_limit_s:.0f} s to judge; "
            f"at most {settings.problem_max_judge_s}",
            code="judging_too_long",
        )
    if not 32 <= v.memory_mb <= settings.problem_max_memory_mb:
        raise BadRequest(
            f"memoryMb must be between 32 and {settings.problem_max_memory_mb}",
            code="limit_out_of_range",
        )
    for language, code in v.starter_code.items():
        if language not in KNOWN_LANGUAGES:
            raise BadRequest(f"No language {language!r} for starter code", code="unknown_language")
        if len(code.encode()) > settings.runner_max_source_bytes:
            raise PayloadTooLarge("Starter code is too large", code="source_too_large")
    if v.checker is not None:
        if v.checker.language not in KNOWN_LANGUAGES:
            raise BadRequest(
                f"No language {v.checker.language!r} for the checker", code="unknown_language"
            )
        if sum(len(f.content.encode()) for f in v.checker.files) > settings.runner_max_source_bytes:
            raise PayloadTooLarge("The checker is too large", code="source_too_large")
    try:
        parse_flags(v.validator_flags)
    except BadFlags as exc:
        raise BadRequest(str(exc), code="invalid_validator_flags") from None


def _tests_of(data: ProblemFields) -> list[ProblemTest]:
    assert data.tests is not None
    tests = []
    for index, test in enumerate(data.tests):
        folder = "sample" if test.sample else "secret"
        name = test.name or f"{index + 1:03d}"
        tests.append(
            ProblemTest(
                name=f"{folder}/{name}", input=test.input, answer=test.answer, sample=test.sample
            )
        )
    return tests


def _apply(fields: dict[str, Any], data: ProblemFields) -> dict[str, Any]:
    """The fields of a new version: the previous version's, changed by what was sent."""
    sent = data.model_fields_set
    if "title" in sent:
        fields["title"] = data.title
    if "statement" in sent:
        fields["statement"] = data.statement
        fields["statement_format"] = "markdown"
    if "difficulty" in sent:
        fields["difficulty"] = data.difficulty
    if "tags" in sent:
        fields["tags"] = list(data.tags or [])
    if "tests" in sent:
        fields["tests"] = _tests_of(data)
    if "timeLimitS" in sent:
        fields["time_limit_s"] = data.timeLimitS
    if "memoryMb" in sent:
        fields["memory_mb"] = data.memoryMb
    if "starterCode" in sent:
        fields["starter_code"] = dict(data.starterCode or {})
    if "checker" in sent:
        fields["checker"] = (
            None
            if data.checker is None
            else Checker(
                language=data.checker.language,
                files=[SourceFile(name=f.name, content=f.content) for f in data.checker.files],
                args=list(data.checker.args),
            )
        )
    if "validatorFlags" in sent:
        fields["validator_flags"] = list(data.validatorFlags or [])
    return fields


# --- reading

BANK: Versioned[Problem, ProblemVersion] = Versioned(
    entry=Problem,
    version=ProblemVersion,
    summary=lambda v: {
        "title": v.title,
        "difficulty": v.difficulty,
        "tags": v.tags,
        "updatedAt": v.created_at,
    },
    missing=problem_not_found,
    exists=lambda slug: Conflict(f"The bank already has a problem {slug!r}", code="problem_exists"),
    changed=lambda: Conflict("The problem changed meanwhile; retry", code="conflict"),
)


def _versions(clients: Clients) -> Any:
    return BANK.versions(clients.engine)


async def list_bank(
    clients: Clients, org_id: str, actor: User, after: str | None, limit: int
) -> tuple[list[Problem], bool]:
    org = await org_for(clients.engine, org_id, actor, Action.PROBLEMS_READ)
    return await BANK.page(
        clients.engine, org.id, after, min(limit, clients.settings.problem_max_listed)
    )


async def current(clients: Clients, org_id: str, slug: str, actor: User) -> ProblemVersion:
    """The bank's current version of `slug` (a deleted problem is not found)."""
    org = await org_for(clients.engine, org_id, actor, Action.PROBLEMS_READ)
    return await BANK.current(clients.engine, org.id, slug)


async def version_of(
    clients: Clients, org_id: str, slug: str, version: int, actor: User
) -> ProblemVersion:
    """Any version, also of a deleted problem: members read what their sessions pinned."""
    org = await org_for(clients.engine, org_id, actor, Action.PROBLEMS_READ)
    found = await BANK.find_version(clients.engine, org.id, slug, version)
    if found is None:
        raise problem_not_found()
    return found


async def versions(clients: Clients, org_id: str, slug: str, actor: User) -> list[dict[str, Any]]:
    org = await org_for(clients.engine, org_id, actor, Action.PROBLEMS_READ)
    projection = {"version": 1, "title": 1, "origin": 1, "createdBy": 1, "createdAt": 1}
    return await BANK.history(clients.engine, org.id, slug, projection)


# --- writing a version


async def _write_version(
    clients: Clients,
    org_id: ObjectId,
    fields: dict[str, Any],
    actor: User,
    audit_type: str,
    *,
    must_exist: bool,
    import_id: ObjectId | None = None,
    based_on: int | None = None,
) -> ProblemVersion:
    """The next version of `fields['slug']` (tq.core.versions), checked against the
    settings, and its audit entry."""

    def make(number: int) -> ProblemVersion:
        version = ProblemVersion(
            **{
                **fields,
                "org_id": org_id,
                "version": number,
                "created_by": actor.id,
                "created_at": utcnow(),
                "import_id": import_id,
            }
        )
        check_version(clients.settings, version)
        return version

    written = await BANK.write(
        clients.engine,
        make,
        org_id,
        fields["slug"],
        must_exist=must_exist,
        based_on=based_on,
    )
    await audit.record_now(
        clients,
        org_id,
        audit.audit_entry(
            audit_type,
            actor.id,
            slug=written.slug,
            version=written.version,
            entry_id=str(written.id),
        ),
    )
    return written


async def create(
    clients: Clients, org_id: str, actor: User, data: CreateProblemIn
) -> ProblemVersion:
    org = await org_for(clients.engine, org_id, actor, Action.PROBLEMS_MANAGE)
    fields = _apply(
        {
            "slug": data.slug,
            "time_limit_s": DEFAULT_TIME_LIMIT_S,
            "memory_mb": DEFAULT_MEMORY_MB,
            "origin": "api",
        },
        data,
    )
    return await _write_version(clients, org.id, fields, actor, "problem.created", must_exist=False)


async def update(
    clients: Clients, org_id: str, slug: str, actor: User, data: UpdateProblemIn
) -> ProblemVersion:
    org = await org_for(clients.engine, org_id, actor, Action.PROBLEMS_MANAGE)
    previous = await BANK.current(clients.engine, org.id, slug)
    fields = previous.model_dump(exclude={"id", "org_id", "version", "created_by", "created_at"})
    fields = _apply(fields, data)
    if "tests" in data.model_fields_set or "statement" in data.model_fields_set:
        # An edited problem's proven solutions no longer prove anything.
        fields["submissions"] = []
        fields["origin"] = "api"
    return await _write_version(
        clients,
        org.id,
        fields,
        actor,
        "problem.updated",
        must_exist=True,
        based_on=previous.version,
    )


async def delete(clients: Clients, org_id: str, slug: str, actor: User) -> None:
    """Out of the bank; its versions stay for the sessions that pinned them."""
    org = await org_for(clients.engine, org_id, actor, Action.PROBLEMS_MANAGE)
    deleted = await BANK.remove(clients.engine, org.id, slug)
    await audit.record_now(
        clients,
        org.id,
        audit.audit_entry("problem.deleted", actor.id, slug=slug, version=deleted["version"]),
    )


def library_markdown(problem: bank.LibraryProblem) -> str:
    parts = [problem.text]
    parts += [f"> {note}" for note in problem.notes]
    parts += ["## Input", problem.input_format, "## Output", problem.output_format]
    if problem.constraints:
        parts += ["## Constraints", "\n".join(f"- {c}" for c in problem.constraints)]
    return "\n\n".join(parts) + "\n"


async def copy_from_library(
    clients: Clients, org_id: str, actor: User, slug: str
) -> ProblemVersion:
    """A problem of the public library, as version 1 of the organization's own (the library
    judges by lines: so does the copy)."""
    org = await org_for(clients.engine, org_id, actor, Action.PROBLEMS_MANAGE)
    source = bank.BY_SLUG.get(slug)
    if source is None:
        raise problem_not_found()
    samples = len(source.examples)
    fields = {
        "slug": source.slug,
        "title": source.title,
        "statement": library_markdown(source),
        "difficulty": source.difficulty,
        "tags": [source.category],
        "tests": [
            ProblemTest(
                name=f"{'secret' if t.hidden else 'sample'}/{i + 1:03d}",
                input=t.input,
                answer=t.expected,
                sample=not t.hidden and i < samples,
            )
            for i, t in enumerate(source.tests)
        ],
        "time_limit_s": min(
            clients.settings.runner_run_timeout_s, clients.settings.problem_max_time_limit_s
        ),
        "memory_mb": min(clients.settings.runner_memory_mb, clients.settings.problem_max_memory_mb),
        "comparison": "lines",
        "starter_code": bank.starter_code(source),
        "origin": "library",
    }
    return await _write_version(clients, org.id, fields, actor, "problem.copied", must_exist=False)


# --- export and import


async def export(
    clients: Clients, org_id: str, slug: str, actor: User, version: int | None
) -> tuple[ProblemVersion, bytes]:
    if version is None:
        found = await current(clients, org_id, slug, actor)
    else:
        found = await version_of(clients, org_id, slug, version, actor)
    # Zipping megabytes of tests is CPU work: off the event loop.
    package = await asyncio.to_thread(
        kattis.build,
        title=found.title,
        statement=found.statement,
        statement_format=found.statement_format,
        difficulty=found.difficulty,
        tags=found.tags,
        tests=[kattis.PackageTest(t.name, t.input, t.answer, t.sample) for t in found.tests],
        time_limit_s=found.time_limit_s,
        memory_mb=found.memory_mb,
        checker_files=[kattis.PackageFile(f.name, f.content) for f in found.checker.files]
        if found.checker
        else [],
        flags=found.validator_flags,
        submissions=[
            kattis.PackageSubmission(s.kind, s.name, s.language, s.source)
            for s in found.submissions
        ],
        starter_code=found.starter_code,
        input_validators=[kattis.PackageFile(f.name, f.content) for f in found.input_validators],
        # The format's short names are [a-z0-9]+ (an import takes the slug from ?slug=).
        folder=found.slug.replace("-", ""),
        uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"talent-quotient:{found.org_id}:{found.slug}")),
        provenance=found.provenance,
    )
    await audit.record_now(
        clients,
        found.org_id,
        audit.audit_entry("problem.exported", actor.id, slug=found.slug, version=found.version),
    )
    return found, package


def _imports(clients: Clients) -> Any:
    return clients.engine.get_collection(ProblemImport)


async def start_import(
    clients: Clients, org_id: str, actor: User, package: bytes, slug: str | None
) -> ProblemImport:
    """Checked now (a bad package gets its 4xx at once), proven by the runner later."""
    org = await org_for(clients.engine, org_id, actor, Action.PROBLEMS_MANAGE)
    settings = clients.settings
    # Before the package is even read: an organization's and an account's imports being
    # proven at once (an account may own several organizations).
    recent = {"$gt": ObjectId.from_datetime(utcnow() - _stale(settings))}
    unfinished = {"$in": ["queued", "running"]}
    for scope, what in (({"orgId": org.id}, "this organization"), ({"createdBy": actor.id}, "you")):
        pending = await _imports(clients).count_documents(
            {**scope, "_id": recent, "status": unfinished}
        )
        if pending >= settings.package_max_pending_imports:
            raise TooManyRequests(
                f"{pending} imports of {what} are being proven; wait for one",
                code="imports_busy",
            )
    parsed = await _parse_off_loop(settings, package)
    slug = slug or parsed.slug
    if slug is None:
        raise BadRequest(
            "Name the problem: ?slug=…, or a top folder named like a slug", code="slug_required"
        )
    if not parsed.submissions or not any(s.kind == "accepted" for s in parsed.submissions):
        raise BadRequest(
            "The package has no submissions/accepted: nothing proves its tests",
            code="no_accepted_submission",
        )
    # What the version will hold is checked now (limits, sizes), not after minutes of proving.
    check_version(
        settings,
        ProblemVersion(
            # without a time limit it will be found, a whole second at least
            **_fields_of_package(slug, parsed, parsed.time_limit_s or 1.0),
            org_id=org.id,
            version=1,
        ),
    )
    job = ProblemImport(org_id=org.id, created_by=actor.id, slug=slug, package=package)
    await _imports(clients).insert_one(job.model_dump_doc())
    await clients.queue.enqueue(PROVE_PACKAGE, str(job.id))
    return job


async def _parse_off_loop(settings: Settings, package: bytes) -> kattis.Package:
    return await asyncio.to_thread(
        kattis.parse, package, package_limits(settings), settings.runner_max_source_bytes
    )


def _stale(settings: Settings) -> timedelta:
    """An import not ended after this long never will (its runner was lost or never took
    it): it is failed when next read, and no longer counts against the pending limit."""
    return timedelta(seconds=settings.runner_stale_after_s + settings.celery_task_time_limit)


async def import_of(clients: Clients, org_id: str, import_id: str, actor: User) -> ProblemImport:
    org = await org_for(clients.engine, org_id, actor, Action.PROBLEMS_READ)
    oid = parse_object_id(import_id)
    if oid is not None and oid.generation_time < utcnow() - _stale(clients.settings):
        await _imports(clients).update_one(
            {"_id": oid, "orgId": org.id, "status": {"$in": ["queued", "running"]}},
            {
                "$set": {
                    "status": "failed",
                    "error": "no runner proved this package in time; import it again",
                    "finishedAt": utcnow(),
                },
                "$unset": {"package": ""},
            },
        )
    doc = (
        await _imports(clients).find_one({"_id": oid, "orgId": org.id}, {"package": 0})
        if oid
        else None
    )
    if doc is None:
        raise NotFound("Import not found", code="import_not_found")
    return ProblemImport.model_validate_doc(doc)


# --- the runner's side of an import (it proves; this module writes)


async def claim_import(clients: Clients, import_id: str, max_attempts: int) -> ProblemImport | None:
    oid = parse_object_id(import_id)
    if oid is None:
        return None
    doc = await _imports(clients).find_one_and_update(
        {"_id": oid, "status": {"$in": ["queued", "running"]}, "attempts": {"$lt": max_attempts}},
        {"$set": {"status": "running"}, "$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        # delivered again after runners were lost with it as often as allowed
        await _imports(clients).update_one(
            {"_id": oid, "status": {"$in": ["queued", "running"]}},
            {
                "$set": {
                    "status": "failed",
                    "error": "the runner was lost while proving this package",
                    "finishedAt": utcnow(),
                },
                "$unset": {"package": ""},
            },
        )
        return None
    return ProblemImport.model_validate_doc(doc)


async def finish_import(
    clients: Clients,
    job: ProblemImport,
    package: kattis.Package | None,
    time_limit_s: float | None,
    report: list[dict[str, Any]],
    error: str | None,
) -> ProblemImport:
    """Accepted: the problem's next version (created or changed), written once even if this
    is a retry; refused or failed: nothing but the report."""
    version: int | None = None
    status = "refused" if error is None else "failed"
    if (
        error is None
        and package is not None
        and time_limit_s is not None
        and all(line["ok"] for line in report)
    ):
        existing = await _versions(clients).find_one({"importId": job.id})
        if existing is not None:
            # A retry after the version was written: the entry may not have moved yet.
            found = ProblemVersion.model_validate_doc(existing)
            await BANK.move_entry(clients.engine, found, may_create=True)
            version = found.version
        else:
            actor = await _actor(clients, job.created_by)
            head = await BANK.find_entry(clients.engine, job.org_id, job.slug)
            try:
                written = await _write_version(
                    clients,
                    job.org_id,
                    _fields_of_package(job.slug, package, time_limit_s),
                    actor,
                    "problem.imported",
                    must_exist=head is not None,
                    import_id=job.id,
                )
                version = written.version
            except AppError as exc:
                error = exc.message
            except Exception as exc:  # what the database refused: failed, with a reason
                log.exception("import %s could not be written", job.id)
                error = f"the problem could not be stored ({type(exc).__name__})"
        status = "accepted" if version is not None else "failed"
    # Only the attempt that claimed it ends it (a late duplicate leaves it alone).
    doc = await _imports(clients).find_one_and_update(
        {"_id": job.id, "attempts": job.attempts},
        {
            "$set": {
                "status": status,
                "report": report,
                "error": error,
                "version": version,
                "timeLimitS": time_limit_s,
                "finishedAt": utcnow(),
            },
            "$unset": {"package": ""},
        },
        projection={"package": 0},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        doc = await _imports(clients).find_one({"_id": job.id}, {"package": 0})
    return ProblemImport.model_validate_doc(doc)


async def _actor(clients: Clients, user_id: ObjectId) -> User:
    found = await clients.engine.find_one(User, User.id == user_id)
    if found is None:  # the importer's account went meanwhile: the version is nobody's
        return User.model_construct(id=user_id)
    return found


def _fields_of_package(slug: str, package: kattis.Package, time_limit_s: float) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": package.title,
        "statement": package.statement,
        "statement_format": package.statement_format,
        "difficulty": package.difficulty,
        "tags": package.tags,
        "tests": [
            ProblemTest(name=t.name, input=t.input, answer=t.answer, sample=t.sample)
            for t in package.tests
        ],
        "time_limit_s": time_limit_s,
        "memory_mb": package.memory_mb,
        "comparison": "tokens",
        # With a checker the package's output_validator_args are the checker's arguments.
        "validator_flags": [] if package.checker_language else package.flags,
        "starter_code": package.starter_code,
        "checker": None
        if package.checker_language is None
        else Checker(
            language=package.checker_language,
            files=[SourceFile(name=f.name, content=f.content) for f in package.checker_files],
            args=package.flags,
        ),
        "submissions": [
            Submission(kind=s.kind, name=s.name, language=s.language, source=s.source)
            for s in package.submissions
        ],
        "input_validators": [
            SourceFile(name=f.name, content=f.content) for f in package.input_validators
        ],
        "provenance": package.provenance,
        "origin": "import",
    }


def package_judging(package: kattis.Package, time_limit_s: float | None) -> JudgeSpec:
    return JudgeSpec(
        tests=tuple(
            TestCase(input=t.input, expected=t.answer, hidden=not t.sample, name=t.name)
            for t in package.tests
        ),
        time_limit_s=time_limit_s,
        memory_mb=package.memory_mb,
        comparison="tokens",
        flags=tuple(package.flags),
        checker=None
        if package.checker_language is None
        else CheckerSpec(
            package.checker_language,
            tuple((f.name, f.content) for f in package.checker_files),
            tuple(package.flags),
        ),
    )


def time_limit_from(package: kattis.Package, slowest_accepted_s: float, cap: float) -> float | None:
    """Kattis's rule when problem.yaml gives none: the slowest accepted submission's time
    times ac_to_time_limit, rounded up to a whole second; None when that passes the cap."""
    limit = max(1.0, float(math.ceil(slowest_accepted_s * package.ac_to_time_limit)))
    return limit if limit <= cap else None


async def parse_stored(settings: Settings, job: ProblemImport) -> kattis.Package:
    if job.package is None:
        raise BadRequest("the package is gone", code="invalid_package")
    return await _parse_off_loop(settings, job.package)


async def forget_org_problems(engine: AIOEngine, org_id: ObjectId) -> None:
    """A deleted organization's bank and imports go; the versions its sessions pinned stay
    (those sessions moved to the owner's personal organization and still show them)."""
    await BANK.forget_org(engine, org_id)
    await engine.get_collection(ProblemImport).delete_many({"orgId": org_id})


# --- what a session pins


@dataclass(frozen=True)
class Pin:
    slug: str
    version: int | None  # None: the public library's
    version_id: ObjectId | None
    title: str
    difficulty: str


async def pin(clients: Clients, org_id: ObjectId, ref: str) -> Pin:
    """`slug` or `slug@version`: the organization's bank first (its current version unless
    one is named), else the public library, else a label; a version that does not exist is
    400."""
    slug, _, number = ref.partition("@")
    version_number: int | None = None
    if number:
        if not number.isdigit() or not 0 < int(number) < 1 << 31:
            raise BadRequest(f"{ref!r} names no version", code="unknown_problem")
        version_number = int(number)
    engine = clients.engine
    entry = await BANK.find_entry(engine, org_id, slug)
    if entry is not None or version_number is not None:
        wanted = version_number or (entry.version if entry else None)
        found = await BANK.find_version(engine, org_id, slug, wanted)
        if found is not None:
            return Pin(slug, found.version, found.id, found.title, found.difficulty)
    library = bank.BY_SLUG.get(slug)
    if library is not None and version_number is None:
        return Pin(slug, None, None, library.title, library.difficulty)
    if version_number is None:
        # A slug of neither: a label, as sessions have always taken (a system design round
        # has no tests); nothing is pinned and runs cannot be judged against it.
        return Pin(slug, None, None, slug, "")
    raise BadRequest(f"Unknown problem {ref!r}", code="unknown_problem")


async def pinned_version(engine: AIOEngine, version_id: ObjectId) -> ProblemVersion | None:
    return await BANK.by_id(engine, version_id)


def version_judging(v: ProblemVersion) -> JudgeSpec:
    return JudgeSpec(
        tests=tuple(
            TestCase(input=t.input, expected=t.answer, hidden=not t.sample, name=t.name)
            for t in v.tests
        ),
        time_limit_s=v.time_limit_s,
        memory_mb=v.memory_mb,
        comparison=v.comparison,
        flags=tuple(v.validator_flags),
        checker=None
        if v.checker is None
        else CheckerSpec(
            v.checker.language,
            tuple((f.name, f.content) for f in v.checker.files),
            tuple(v.checker.args),
        ),
    )


async def judging_for(
    engine: AIOEngine, slug: str | None, version_id: ObjectId | None
) -> JudgeSpec | None:
    """What a run of `slug` is judged against: the pinned version, else the library's."""
    if version_id is not None:
        found = await pinned_version(engine, version_id)
        return version_judging(found) if found else None
    library = bank.BY_SLUG.get(slug) if slug else None
    return bank.judging(library) if library else None


async def pinned_view(
    clients: Clients, slug: str | None, version_id: ObjectId | None
) -> PinnedProblemOut | None:
    """The candidate's view: samples only."""
    if version_id is not None:
        v = await pinned_version(clients.engine, version_id)
        return PinnedProblemOut.of(v) if v else None
    library = bank.BY_SLUG.get(slug) if slug else None
    return PinnedProblemOut.of_library(library, library_markdown(library)) if library else None
