"""Kattis problem packages: three real packages (tests/problems/packages, written in the 2025-09
format and checked with problemtools) imported through the API and proven on the real runner,
exported and imported again; a package whose submission misbehaves refused with its report
and nothing written; hostile zips refused at once with a clear error."""

from __future__ import annotations

import io
import stat
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from odmantic import AIOEngine

from tests.orgs.test_orgs import audit_types, new_org
from tests.support import register, wait_until
from tq.problems.models import ProblemImport, ProblemVersion

pytestmark = pytest.mark.usefixtures("runner_worker", "celery_worker")

PACKAGES = Path(__file__).parent / "packages"
ZIP = {"Content-Type": "application/zip"}


def zipped(folder: Path, *, replace: dict[str, str | None] | None = None) -> bytes:
    """The package folder as a zip with its top folder; `replace`: a path → new content
    (None drops it)."""
    buffer = io.BytesIO()
    changes = dict(replace or {})
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                if name in changes:
                    content = changes.pop(name)
                    if content is not None:
                        archive.writestr(f"{folder.name}/{name}", content)
                    continue
                archive.write(path, f"{folder.name}/{name}")
        for name, content in changes.items():
            if content is not None:
                archive.writestr(f"{folder.name}/{name}", content)
    return buffer.getvalue()


@pytest.fixture
async def owner_org(client: httpx.AsyncClient) -> dict[str, Any]:
    owner = await register(client, role="interviewer", name="Ingrid Importer")
    org = await new_org(client, owner, name="Importers")
    return {"owner": owner, "org": org, "bank": f"/api/orgs/{org['_id']}/problems"}


async def import_and_wait(
    http: httpx.AsyncClient, who: dict[str, Any], bank: str, package: bytes, **params: str
) -> dict[str, Any]:
    started = await http.post(
        f"{bank}/import", content=package, params=params, headers=who["headers"] | ZIP
    )
    assert started.status_code == 202, started.text
    job = started.json()["problemImport"]
    assert job["status"] == "queued"

    async def ended() -> dict[str, Any] | None:
        got = await http.get(f"{bank}/imports/{job['id']}", headers=who["headers"])
        found: dict[str, Any] = got.json()["problemImport"]
        return found if found["status"] not in ("queued", "running") else None

    result: dict[str, Any] = await wait_until(ended, timeout=240, interval=0.5)  # type: ignore[assignment]
    return result


def content_of(problem: dict[str, Any]) -> dict[str, Any]:
    """What a round trip must keep (not the version number, author or time)."""
    keep = (
        *("title", "statement", "statementFormat", "difficulty", "tags", "tests", "timeLimitS"),
        *("memoryMb", "validatorFlags", "starterCode", "checker", "submissions", "comparison"),
        "provenance",
    )
    return {key: problem[key] for key in keep}


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        (
            "addtwo",
            {
                "accepted/sol.c": "accepted",
                "accepted/sol.cpp": "accepted",
                "accepted/sol.py": "accepted",
                "wrong_answer/off_by_one.py": "wrong_answer",
            },
        ),
        (
            "anydivisor",
            {
                "accepted/largest.cpp": "accepted",
                "accepted/smallest.py": "accepted",
                "wrong_answer/trivial.py": "wrong_answer",
            },
        ),
        (
            "sumpairsfast",
            {
                "accepted/Sorting.java": "accepted",
                "accepted/hashing.py": "accepted",
                "run_time_error/crash.py": "runtime_error",
                "time_limit_exceeded/quadratic.py": "time_limit",
            },
        ),
    ],
)
async def test_a_real_package_is_proven_exported_and_imported_again(
    client: httpx.AsyncClient,
    owner_org: dict[str, Any],
    engine: AIOEngine,
    name: str,
    lines: dict[str, str],
) -> None:
    owner, bank = owner_org["owner"], owner_org["bank"]
    job = await import_and_wait(client, owner, bank, zipped(PACKAGES / name))
    assert job["status"] == "accepted", job
    verdicts = {
        line["submission"]: line["verdict"]
        for line in job["report"]
        if not line["submission"].startswith("input_validators/")
    }
    assert verdicts == lines, job["report"]
    assert all(line["ok"] for line in job["report"])
    validators = [line for line in job["report"] if line["expected"] == "valid_input"]
    assert len(validators) == 1 and validators[0]["ok"]
    problem = (await client.get(f"{bank}/{name}", headers=owner["headers"])).json()["problem"]
    assert problem["version"] == 1 and problem["origin"] == "import"
    assert problem["provenance"]["license"] == "cc by-sa"
    assert (problem["checker"] is not None) == (name == "anydivisor")
    source_tests = sorted(p for p in (PACKAGES / name / "data").rglob("*.in"))
    assert len(problem["tests"]) == len(source_tests)
    assert {t["name"] for t in problem["tests"] if t["sample"]} == {"sample/1", "sample/2"}

    exported = await client.get(f"{bank}/{name}/export", headers=owner["headers"])
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(exported.content)).namelist()
    assert f"{name}/problem.yaml" in names and f"{name}/statement/problem.en.md" in names
    assert f"{name}/input_validators/validate.py" in names

    # Into another organization, from the export: the same problem.
    other = await register(client, role="interviewer", name="Other team")
    other_org = await new_org(client, other, name="Second team")
    other_bank = f"/api/orgs/{other_org['_id']}/problems"
    again = await import_and_wait(client, other, other_bank, exported.content)
    assert again["status"] == "accepted", again
    round_trip = (await client.get(f"{other_bank}/{name}", headers=other["headers"])).json()
    assert content_of(round_trip["problem"]) == content_of(problem)
    # The stored package is dropped once the import ended.
    stored = await engine.get_collection(ProblemImport).find_one({"orgId": other_org["_id"]})
    assert stored is None or "package" not in stored
    types = [e["type"] for e in await audit_types(client, owner, owner_org["org"])]
    assert "problem.imported" in types and "problem.exported" in types


async def test_a_package_whose_submission_misbehaves_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, owner_org: dict[str, Any], engine: AIOEngine
) -> None:
    owner, bank = owner_org["owner"], owner_org["bank"]
    off_by_one = (PACKAGES / "addtwo/submissions/wrong_answer/off_by_one.py").read_text()
    package = zipped(
        PACKAGES / "addtwo",
        replace={"submissions/accepted/claims_ok.py": off_by_one},
    )
    job = await import_and_wait(client, owner, bank, package, slug="add-two-bad")
    assert job["status"] == "refused" and job["version"] is None, job
    bad = [line for line in job["report"] if not line["ok"]]
    assert [(b["submission"], b["expected"], b["verdict"]) for b in bad] == [
        ("accepted/claims_ok.py", "accepted", "wrong_answer")
    ]
    assert bad[0]["test"] == "sample/1"  # the first test it failed, by name
    assert (await client.get(f"{bank}/add-two-bad", headers=owner["headers"])).status_code == 404
    versions = engine.get_collection(ProblemVersion)
    assert await versions.count_documents({"slug": "add-two-bad"}) == 0
    # An input the package's own validator refuses: refused too, naming the test.
    bad_input = zipped(PACKAGES / "addtwo", replace={"data/secret/01-zeros.in": "0 x\n"})
    refused = await import_and_wait(client, owner, bank, bad_input, slug="add-two-worse")
    assert refused["status"] == "refused", refused
    invalid = [line for line in refused["report"] if line["verdict"] == "invalid_input"]
    assert invalid and invalid[0]["test"] == "secret/01-zeros"
    assert await versions.count_documents({"slug": "add-two-worse"}) == 0


def _zip(
    entries: list[tuple[zipfile.ZipInfo | str, bytes]], method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def _symlink() -> bytes:
    link = zipfile.ZipInfo("p/problem.yaml")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip([(link, b"/etc/passwd")])


HOSTILE: dict[str, tuple[bytes, int, str]] = {
    "not a zip": (b"MZ\x90\x00 definitely not a zip", 400, "invalid_package"),
    "path traversal": (_zip([("../../etc/cron.d/x", b"* * * * * root sh")]), 400, "unsafe_path"),
    "absolute path": (_zip([("/etc/passwd", b"x")]), 400, "unsafe_path"),
    "backslash path": (_zip([("p\\..\\..\\x", b"x")]), 400, "unsafe_path"),
    "symlink": (_symlink(), 400, "symlink_in_package"),
    "zip bomb": (_zip([("p/data/secret/1.in", b"0" * (50 << 20))]), 413, "file_too_large"),
    "ratio bomb": (
        _zip([("p/data/secret/1.in", b"0" * (6 << 20))], zipfile.ZIP_BZIP2),
        400,
        "zip_bomb",
    ),
    "thousands of files": (
        _zip([(f"p/data/secret/{i}.in", b"") for i in range(1500)]),
        400,
        "too_many_files",
    ),
    "no problem.yaml": (_zip([("p/data/secret/1.in", b"1")]), 400, "invalid_package"),
    "interactive": (
        _zip(
            [("p/problem.yaml", b"problem_format_version: 2025-09\nname: x\ntype: interactive\n")]
        ),
        400,
        "unsupported_package",
    ),
    "yaml not a mapping": (_zip([("p/problem.yaml", b"- a\n- b\n")]), 400, "invalid_package"),
    "yaml aliases": (
        _zip([("p/problem.yaml", b"a: &a [x, x]\nb: &b [*a, *a]\nname: *b\n")]),
        400,
        "invalid_package",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_a_hostile_package_is_refused_at_once(
    client: httpx.AsyncClient, owner_org: dict[str, Any], case: str
) -> None:
    package, status, code = HOSTILE[case]
    response = await client.post(
        f"{owner_org['bank']}/import",
        content=package,
        params={"slug": "hostile"},
        headers=owner_org["owner"]["headers"] | ZIP,
    )
    assert response.status_code == status, (case, response.text)
    assert response.json()["error"] == code, (case, response.text)


async def test_an_import_is_refused_without_a_zip_type_or_role(
    client: httpx.AsyncClient, owner_org: dict[str, Any]
) -> None:
    bank, owner = owner_org["bank"], owner_org["owner"]
    package = zipped(PACKAGES / "addtwo")
    as_json = await client.post(
        f"{bank}/import",
        content=package,
        headers=owner["headers"] | {"Content-Type": "application/json"},
    )
    assert as_json.status_code == 415
    stranger = await register(client, role="interviewer")
    hidden = await client.post(f"{bank}/import", content=package, headers=stranger["headers"] | ZIP)
    assert hidden.status_code == 404 and hidden.json()["error"] == "org_not_found"
    no_accepted = zipped(
        PACKAGES / "addtwo",
        replace={f"submissions/accepted/sol.{s}": None for s in ("py", "c", "cpp")},
    )
    refused = await client.post(
        f"{bank}/import", content=no_accepted, headers=owner["headers"] | ZIP
    )
    assert refused.status_code == 400 and refused.json()["error"] == "no_accepted_submission"


async def test_an_import_no_runner_took_is_failed_and_frees_its_place(
    client: httpx.AsyncClient, owner_org: dict[str, Any], engine: AIOEngine
) -> None:
    """Imports a lost runner left queued fail when read, and stop counting against the
    organization's pending imports."""
    bank, owner = owner_org["bank"], owner_org["owner"]
    long_ago = datetime.now(UTC) - timedelta(days=1)
    org_id, user_id = ObjectId(owner_org["org"]["_id"]), ObjectId(owner["user"]["_id"])
    stuck = []
    for _ in range(3):
        job = ProblemImport(
            id=ObjectId(_old_id(long_ago)),
            org_id=org_id,
            created_by=user_id,
            slug="stuck",
            package=b"PK",
        )
        await engine.get_collection(ProblemImport).insert_one(job.model_dump_doc())
        stuck.append(str(job.id))
    # Three stuck ones do not hold the organization's three places.
    started = await client.post(
        f"{bank}/import", content=zipped(PACKAGES / "addtwo"), headers=owner["headers"] | ZIP
    )
    assert started.status_code == 202, started.text
    read = await client.get(f"{bank}/imports/{stuck[0]}", headers=owner["headers"])
    assert read.json()["problemImport"]["status"] == "failed", read.text
    stored = await engine.get_collection(ProblemImport).find_one({"_id": ObjectId(stuck[0])})
    assert stored is not None and "package" not in stored


def _old_id(moment: datetime) -> str:
    """A unique ObjectId of that time (from_datetime alone zeroes the rest: not unique)."""
    return ObjectId.from_datetime(moment).binary[:4].hex() + str(ObjectId())[8:]


async def test_a_checker_gets_the_package_s_output_validator_args(
    client: httpx.AsyncClient, owner_org: dict[str, Any]
) -> None:
    """With an output validator, output_validator_args are its arguments (not default flags)."""
    owner, bank = owner_org["owner"], owner_org["bank"]
    package = zipped(
        PACKAGES / "anydivisor",
        replace={"data/secret/test_group.yaml": "output_validator_args: [--strict, '7']\n"},
    )
    job = await import_and_wait(client, owner, bank, package)
    assert job["status"] == "accepted", job
    problem = (await client.get(f"{bank}/anydivisor", headers=owner["headers"])).json()["problem"]
    assert problem["checker"]["args"] == ["--strict", "7"] and problem["validatorFlags"] == []
