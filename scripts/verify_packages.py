"""`make verify-packages`: problemtools' own verifier (`verifyproblem`) on the Kattis packages
the tests import (tests/problems/packages) and on what our export writes for each of them
(read by tq.problems.kattis, written back by the same code as GET …/problems/:slug/export).

problemtools 1.20260907 knows the formats legacy and 2023-07 only: each package is checked on a
copy labelled 2023-07-draft, whose layout is 2025-09's for everything these packages use. The
statement check (it needs LaTeX) is left out: config, data, validators and submissions."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from config import load_settings
from tests.problems.test_packages import PACKAGES, zipped
from tq.problems import kattis
from tq.problems.service import package_limits

ROOT = Path(__file__).resolve().parent.parent
VERIFY = ROOT / ".tools/problemtools/bin/verifyproblem"
PARTS = ["-p", "config", "data", "validators", "submissions"]


def exported(folder: Path) -> bytes:
    settings = load_settings()
    parsed = kattis.parse(
        zipped(folder), package_limits(settings), settings.runner_max_source_bytes
    )
    return kattis.build(
        title=parsed.title,
        statement=parsed.statement,
        statement_format=parsed.statement_format,
        difficulty=parsed.difficulty,
        tags=parsed.tags,
        tests=parsed.tests,
        time_limit_s=parsed.time_limit_s or 2.0,
        memory_mb=parsed.memory_mb,
        checker_files=parsed.checker_files,
        flags=parsed.flags,
        submissions=parsed.submissions,
        starter_code=parsed.starter_code,
        input_validators=parsed.input_validators,
        folder=folder.name,
        uuid="00000000-0000-4000-8000-000000000000",
        provenance=parsed.provenance,
    )


def verify(folder: Path) -> bool:
    yaml_path = folder / "problem.yaml"
    text = yaml_path.read_text().replace(
        "problem_format_version: 2025-09", "problem_format_version: 2023-07-draft"
    )
    text = text.replace(
        "problem_format_version: '2025-09'", "problem_format_version: 2023-07-draft"
    )
    yaml_path.write_text(text)
    env = {"XDG_CONFIG_HOME": str(ROOT / "scripts/problemtools"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(  # noqa: S603 - our own verifier, a fixed argv
        [str(VERIFY), str(folder), *PARTS], env=env, capture_output=True, text=True
    )
    print(result.stdout[-3000:], result.stderr[-2000:], sep="\n")
    return result.returncode == 0 and " 0 errors" in result.stdout


def main() -> int:
    failed = []
    with tempfile.TemporaryDirectory() as work:
        for package in sorted(p for p in PACKAGES.iterdir() if p.is_dir()):
            for label, source in (("as written", None), ("our export", exported(package))):
                target = Path(work) / label.replace(" ", "-") / package.name
                if source is None:
                    shutil.copytree(package, target)
                else:
                    zipfile.ZipFile(io.BytesIO(source)).extractall(target.parent)
                print(f"== {package.name} ({label})", flush=True)
                if not verify(target):
                    failed.append(f"{package.name} ({label})")
    print("failed: " + ", ".join(failed) if failed else "every package passed verifyproblem")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
