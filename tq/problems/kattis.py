"""Problem packages in the Kattis problem package format (2025-09, also read: 2023-07 and the
legacy format), unpacked from a zip that nobody vouches for, and written back.

Reading checks everything before it decompresses anything (names, kinds, counts, declared
sizes, compression ratios) and then decompresses with its own byte count, because a zip's
declared sizes can lie. Nothing is written to disk: the package stays in memory, within the
PACKAGE_* settings. Nothing here runs code: the runner proves the submissions."""

from __future__ import annotations

import datetime
import io
import math
import re
import stat
import struct
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from tq.core.errors import BadRequest, PayloadTooLarge
from tq.core.schemas import HIDDEN
from tq.problems.judging import BadFlags, parse_flags
from tq.problems.models import Difficulty, SubmissionKind

FORMAT_VERSION = "2025-09"
READ_VERSIONS = ("2025-09", "2023-07", "legacy")
SUBMISSION_KINDS: tuple[SubmissionKind, ...] = (
    "accepted",
    "rejected",
    "wrong_answer",
    "time_limit_exceeded",
    "run_time_error",
    "brute_force",
)
# A submission's language, by its suffix (Kattis's own names where they differ).
LANGUAGE_OF = {
    ".py": "python",
    ".c": "c",
    ".cpp": "cpp",
    ".cc": "cpp",
    ".cxx": "cpp",
    ".java": "java",
    ".js": "javascript",
    ".go": "go",
    ".rb": "ruby",
    ".php": "php",
    ".rs": "rust",
}
SUFFIX_OF = {"python": ".py", "c": ".c", "cpp": ".cpp", "java": ".java", "javascript": ".js"}
SUFFIX_OF |= {"go": ".go", "ruby": ".rb", "php": ".php", "rust": ".rs"}
# Our language names as the format's language table codes them (attachments/templates/<code>).
CODE_OF = {name: name for name in SUFFIX_OF} | {"python": "python3"}
LANGUAGE_OF_CODE = {code: name for name, code in CODE_OF.items()}
DIFFICULTY_KEYWORD = "difficulty:"
PROVENANCE = ("uuid", "credits", "source", "license", "rights_owner")
YAML_MAX_BYTES = 64 * 1024
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
HIDDEN_CHAR = re.compile(f"[{HIDDEN}]")
TAG = re.compile(r"^[a-z0-9][a-z0-9 +#._-]{0,39}$")  # the API's tags


class InvalidPackage(BadRequest):
    code = "invalid_package"


@dataclass(frozen=True)
class PackageLimits:
    max_bytes: int
    max_unpacked_bytes: int
    max_file_bytes: int
    max_files: int
    max_ratio: int
    max_submissions: int
    max_tests: int
    max_test_bytes: int
    max_time_limit_s: float
    max_memory_mb: int
    max_statement_bytes: int


@dataclass(frozen=True)
class PackageTest:
    name: str
    input: str
    answer: str
    sample: bool


@dataclass(frozen=True)
class PackageFile:
    name: str
    content: str


@dataclass(frozen=True)
class PackageSubmission:
    kind: SubmissionKind
    name: str
    language: str
    source: str


@dataclass
class Package:
    slug: str | None
    title: str
    statement: str
    statement_format: str
    difficulty: Difficulty
    tags: list[str]
    tests: list[PackageTest]
    time_limit_s: float | None  # None: found from the accepted submissions
    memory_mb: int
    checker_language: str | None = None
    checker_files: list[PackageFile] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    submissions: list[PackageSubmission] = field(default_factory=list)
    starter_code: dict[str, str] = field(default_factory=dict)
    input_validators: list[PackageFile] = field(default_factory=list)
    # Who wrote it, where it comes from, under which licence: kept as given, exported again
    # (a cc by-sa problem must keep its attribution).
    provenance: dict[str, Any] = field(default_factory=dict)
    ac_to_time_limit: float = 2.0
    time_limit_to_tle: float = 1.5
    format_version: str = FORMAT_VERSION


# --- the zip, read defensively


def _safe_name(raw: str) -> str:
    """A plain relative POSIX path, or the package is refused."""
    if (
        not raw
        or len(raw) > 255
        or "\\" in raw
        or "\x00" in raw
        or raw.startswith("/")
        or re.match(r"^[A-Za-z]:", raw)
        or any(ord(c) < 32 or ord(c) == 127 for c in raw)
    ):
        raise InvalidPackage(f"unsafe file name in the package: {raw[:80]!r}", code="unsafe_path")
    parts = raw.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts) or len(parts) > 8:
        raise InvalidPackage(f"unsafe file name in the package: {raw[:80]!r}", code="unsafe_path")
    return raw


def _entry_count(data: bytes) -> int | None:
    """The entry count the end-of-central-directory record declares (zip64's too), read before
    the directory itself is: a directory of a million entries is refused without being
    listed. None when there is no such record (then it is not a zip, as zipfile will say)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - (1 << 16) - 22))
    if end < 0 or end + 22 > len(data):
        return None
    (count,) = struct.unpack_from("<H", data, end + 10)
    if count != 0xFFFF:
        return int(count)
    locator = end - 20
    if locator < 0 or data[locator : locator + 4] != b"PK\x06\x07":
        return None
    (record,) = struct.unpack_from("<Q", data, locator + 8)
    if record + 40 > len(data) or data[record : record + 4] != b"PK\x06\x06":
        return None
    (count64,) = struct.unpack_from("<Q", data, record + 32)
    return int(count64)


def unpack(data: bytes, limits: PackageLimits) -> dict[str, bytes]:
    """Every regular file of the zip by its path, within the limits."""
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(
            f"the package is larger than {limits.max_bytes} bytes", code="package_too_large"
        )
    declared_entries = _entry_count(data)
    if declared_entries is not None and declared_entries > limits.max_files:
        raise InvalidPackage(
            f"the package holds {declared_entries} entries; at most {limits.max_files}",
            code="too_many_files",
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise InvalidPackage(f"not a zip file ({exc})") from None
    if len(infos) > limits.max_files:
        raise InvalidPackage(
            f"the package holds {len(infos)} entries; at most {limits.max_files}",
            code="too_many_files",
        )
    declared = 0
    seen: set[str] = set()
    files: list[zipfile.ZipInfo] = []
    for info in infos:
        name = _safe_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise InvalidPackage(f"{name} is a symbolic link", code="symlink_in_package")
        # Zips made elsewhere often carry no file type at all (only permissions): that is a
        # plain file; a type other than file or folder (a device, a FIFO) is refused.
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise InvalidPackage(f"{name} is not a regular file", code="unsafe_path")
        if info.flag_bits & 0x1:
            raise InvalidPackage(f"{name} is encrypted", code="invalid_package")
        if name.startswith("__MACOSX/") or name.split("/")[-1] == ".DS_Store":
            continue  # what macOS's archiver adds beside the files: not the package's
        # Names equal once case and Unicode normalisation are set aside are one file twice.
        key = unicodedata.normalize("NFC", name.rstrip("/")).casefold()
        if key in seen:
            raise InvalidPackage(f"{name} appears twice", code="duplicate_file")
        seen.add(key)
        if info.is_dir():
            if info.file_size:
                raise InvalidPackage(f"{name} is a folder with data", code="invalid_package")
            continue
        if info.file_size > limits.max_file_bytes:
            raise PayloadTooLarge(
                f"{name} unpacks to {info.file_size} bytes; at most {limits.max_file_bytes}",
                code="file_too_large",
            )
        if info.file_size > 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise InvalidPackage(
                f"{name} is compressed {info.file_size // max(info.compress_size, 1)} to 1; "
                f"at most {limits.max_ratio} to 1 (a zip bomb?)",
                code="zip_bomb",
            )
        declared += info.file_size
        files.append(info)
    if declared > limits.max_unpacked_bytes:
        raise PayloadTooLarge(
            f"the package unpacks to {declared} bytes; at most {limits.max_unpacked_bytes}",
            code="package_too_large",
        )
    out: dict[str, bytes] = {}
    for info in files:
        out[info.filename] = _read_bounded(archive, info, limits)
    return out


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: PackageLimits) -> bytes:
    """The file's bytes, never more than it declared (the declared sizes were checked)."""
    chunks: list[bytes] = []
    total = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(64 * 1024):
                total += len(chunk)
                if total > info.file_size:
                    raise InvalidPackage(
                        f"{info.filename} unpacks to more than it declares", code="zip_bomb"
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise InvalidPackage(f"{info.filename} cannot be unpacked ({exc})") from None
    return b"".join(chunks)


# --- the package's structure


def _text(files: dict[str, bytes], name: str) -> str:
    try:
        return files[name].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPackage(f"{name} is not UTF-8 text", code="invalid_package") from None


def _root(files: dict[str, bytes]) -> tuple[str, str | None]:
    """The folder holding problem.yaml ('' or one top folder, which names the problem)."""
    if "problem.yaml" in files:
        return "", None
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1:
        top = tops.pop()
        if f"{top}/problem.yaml" in files:
            return f"{top}/", top
    raise InvalidPackage("problem.yaml is missing (at the top, or in one top folder)")


def _yaml(text: str, name: str) -> dict[str, Any]:
    if len(text.encode()) > YAML_MAX_BYTES:
        raise InvalidPackage(f"{name} is larger than {YAML_MAX_BYTES} bytes")
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidPackage(f"{name} is not valid YAML ({str(exc)[:200]})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InvalidPackage(f"{name} must be a mapping")
    return loaded


def _number(value: Any, what: str, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidPackage(f"{what} must be a number")
    if not low <= value <= high:
        raise InvalidPackage(f"{what} must be between {low} and {high}", code="limit_out_of_range")
    return float(value)


def _plain(value: Any, what: str, depth: int = 0) -> Any:
    """YAML as JSON would have it (strings, numbers, booleans, lists, string-keyed maps), a
    few levels deep and short: what MongoDB stores and an export writes back as is."""
    if depth > 4:
        raise InvalidPackage(f"{what} is nested too deeply")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(1 << 63) <= value < 1 << 63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        if len(value) > 1000:
            raise InvalidPackage(f"{what} is longer than 1000 characters")
        return value
    if isinstance(value, list) and len(value) <= 50:
        return [_plain(item, what, depth + 1) for item in value]
    if isinstance(value, dict) and len(value) <= 50:
        if not all(isinstance(k, str) for k in value):
            raise InvalidPackage(f"{what} has keys that are not text")
        return {k: _plain(v, what, depth + 1) for k, v in value.items()}
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise InvalidPackage(f"{what} is not plain YAML (text, numbers, lists, maps)")


def _title(meta: dict[str, Any]) -> str:
    name = meta.get("name")
    if isinstance(name, dict):
        name = name.get("en") or next(iter(name.values()), None)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidPackage("problem.yaml needs a name (a string, or one per language)")
    if HIDDEN_CHAR.search(name):
        raise InvalidPackage(
            "problem.yaml's name must be one line of visible text (no control characters, "
            "line breaks or bidi overrides)"
        )
    return name.strip()


def _statement(files: dict[str, bytes], root: str, limits: PackageLimits) -> tuple[str, str]:
    """Markdown is kept as is; LaTeX too (flagged `latex`: not rendered here)."""
    for folder in ("statement", "problem_statement"):
        for name, fmt in (("problem.en.md", "markdown"), ("problem.md", "markdown")):
            if f"{root}{folder}/{name}" in files:
                return _checked_statement(files, f"{root}{folder}/{name}", limits), fmt
        for name in ("problem.en.tex", "problem.tex"):
            if f"{root}{folder}/{name}" in files:
                return _checked_statement(files, f"{root}{folder}/{name}", limits), "latex"
    raise InvalidPackage("no statement: statement/problem.en.md (or .tex) is missing")


def _checked_statement(files: dict[str, bytes], name: str, limits: PackageLimits) -> str:
    if len(files[name]) > limits.max_statement_bytes:
        raise PayloadTooLarge(
            f"the statement is larger than {limits.max_statement_bytes} bytes",
            code="statement_too_large",
        )
    return _text(files, name)


def _tests(files: dict[str, bytes], root: str, limits: PackageLimits) -> list[PackageTest]:
    tests: list[PackageTest] = []
    for group, sample in (("sample", True), ("secret", False)):
        prefix = f"{root}data/{group}/"
        inputs = sorted(n for n in files if n.startswith(prefix) and n.endswith(".in"))
        for name in inputs:
            answer = name[: -len(".in")] + ".ans"
            if answer not in files:
                raise InvalidPackage(f"{name} has no {PurePosixPath(answer).name}")
            tests.append(
                PackageTest(
                    name=name[len(f"{root}data/") : -len(".in")],
                    input=_text(files, name),
                    answer=_text(files, answer),
                    sample=sample,
                )
            )
    if not tests:
        raise InvalidPackage("no tests: data/sample and data/secret hold no .in/.ans pairs")
    if len(tests) > limits.max_tests:
        raise InvalidPackage(
            f"{len(tests)} tests; at most {limits.max_tests}", code="too_many_tests"
        )
    size = sum(len(t.input.encode()) + len(t.answer.encode()) for t in tests)
    if size > limits.max_test_bytes:
        raise PayloadTooLarge(
            f"the tests hold {size} bytes; at most {limits.max_test_bytes}",
            code="tests_too_large",
        )
    return tests


def _program(
    files: dict[str, bytes], folder: str, what: str, max_source: int
) -> tuple[str, list[PackageFile]] | None:
    """A program kept as a folder of sources: its language (by the main file's suffix) and
    its files, the main one first."""
    names = sorted(n for n in files if n.startswith(folder))
    if not names:
        return None
    if sum(len(files[n]) for n in names) > max_source:
        raise PayloadTooLarge(f"{what} is larger than {max_source} bytes", code="source_too_large")
    sources = [PackageFile(n[len(folder) :], _text(files, n)) for n in names]
    for source in sources:
        if not NAME.match(source.name.replace("/", "_")):
            raise InvalidPackage(f"{what}: file name {source.name!r} is not plain")
    mains = [s for s in sources if PurePosixPath(s.name).suffix in LANGUAGE_OF]
    languages = {LANGUAGE_OF[PurePosixPath(s.name).suffix] for s in mains}
    if len(languages) != 1:
        raise InvalidPackage(
            f"{what} must be one program in one language (found {sorted(languages) or 'none'})",
            code="unsupported_language",
        )
    language = languages.pop()
    if language in ("c", "cpp"):
        mains = [s for s in mains if PurePosixPath(s.name).suffix not in (".h", ".hpp")]
    main = next((s for s in mains if re.search(r"validat|check|main", s.name)), mains[0])
    return language, [main, *[s for s in sources if s is not main]]


def _checker(
    files: dict[str, bytes], root: str, meta: dict[str, Any], max_source: int
) -> tuple[str | None, list[PackageFile], list[str]]:
    legacy_custom = meta.get("validation") not in (None, "default")
    flags: list[str] = []
    raw_flags = meta.get("validator_flags")
    if isinstance(raw_flags, str):
        flags = raw_flags.split()
    for testdata in (
        f"{root}data/testdata.yaml",
        f"{root}data/secret/testdata.yaml",
        f"{root}data/sample/test_group.yaml",
        f"{root}data/secret/test_group.yaml",
    ):
        if testdata in files:
            args = _yaml(_text(files, testdata), testdata).get("output_validator_args")
            if isinstance(args, str):
                flags = args.split()
            elif isinstance(args, list) and all(isinstance(a, str) for a in args):
                flags = list(args)
    found = _program(files, f"{root}output_validator/", "output_validator", max_source)
    if found is None:
        legacy_prefix = f"{root}output_validators/"
        legacy = sorted(
            {n[len(legacy_prefix) :].split("/")[0] for n in files if n.startswith(legacy_prefix)}
        )
        if len(legacy) > 1:
            raise InvalidPackage("more than one output validator", code="unsupported_package")
        if legacy:
            found = _program(
                files, f"{root}output_validators/{legacy[0]}/", "output_validators", max_source
            )
    if found is None:
        if legacy_custom:
            raise InvalidPackage("validation: custom, but no output validator")
        return None, [], flags
    language, sources = found
    return language, sources, flags


def _submissions(
    files: dict[str, bytes], root: str, limits: PackageLimits, max_source: int
) -> list[PackageSubmission]:
    found: list[PackageSubmission] = []
    prefix = f"{root}submissions/"
    if f"{prefix}submissions.yaml" in files:
        raise InvalidPackage(
            "submissions/submissions.yaml is not supported: each folder's verdict is used",
            code="unsupported_package",
        )
    for name in sorted(n for n in files if n.startswith(prefix)):
        rest = name[len(prefix) :].split("/")
        if len(rest) != 2:
            raise InvalidPackage(
                f"{name}: only single-file submissions are supported (submissions/<kind>/<file>)",
                code="unsupported_package",
            )
        kind, file_name = rest
        if kind not in SUBMISSION_KINDS:
            raise InvalidPackage(
                f"{name}: submissions/{kind} is not one of {', '.join(SUBMISSION_KINDS)}",
                code="unsupported_package",
            )
        language = LANGUAGE_OF.get(PurePosixPath(file_name).suffix)
        if language is None or not NAME.match(file_name):
            raise InvalidPackage(
                f"{name}: no language of ours has this suffix", code="unsupported_language"
            )
        if len(files[name]) > max_source:
            raise PayloadTooLarge(
                f"{name} is larger than {max_source} bytes", code="source_too_large"
            )
        found.append(PackageSubmission(kind, file_name, language, _text(files, name)))
    if len(found) > limits.max_submissions:
        raise InvalidPackage(
            f"{len(found)} submissions; at most {limits.max_submissions}",
            code="too_many_submissions",
        )
    return found


def _starter_code(files: dict[str, bytes], root: str) -> dict[str, str]:
    """Code templates (`attachments/templates/<language code>/<file>`): the starter code."""
    code: dict[str, str] = {}
    prefix = f"{root}attachments/templates/"
    for name in sorted(n for n in files if n.startswith(prefix)):
        parts = name[len(prefix) :].split("/")
        language = LANGUAGE_OF_CODE.get(parts[0])
        if len(parts) == 2 and language is not None and language not in code:
            code[language] = _text(files, name)
    return code


def _input_validators(files: dict[str, bytes], root: str, max_source: int) -> list[PackageFile]:
    """Single-file validators in a language we run (each must exit 42 on every input)."""
    prefix = f"{root}input_validators/"
    found: list[PackageFile] = []
    for name in sorted(n for n in files if n.startswith(prefix)):
        rest = name[len(prefix) :]
        if "/" in rest or PurePosixPath(rest).suffix not in LANGUAGE_OF or not NAME.match(rest):
            raise InvalidPackage(
                f"{name}: only single-file input validators in a language we run are supported "
                "(not .ctd, .viva or directories)",
                code="unsupported_package",
            )
        if len(files[name]) > max_source:
            raise PayloadTooLarge(
                f"{name} is larger than {max_source} bytes", code="source_too_large"
            )
        found.append(PackageFile(rest, _text(files, name)))
    return found


def parse(data: bytes, limits: PackageLimits, max_source: int) -> Package:
    files = unpack(data, limits)
    root, folder_name = _root(files)
    meta = _yaml(_text(files, f"{root}problem.yaml"), "problem.yaml")
    version = str(meta.get("problem_format_version", "legacy"))
    if version not in READ_VERSIONS:
        raise InvalidPackage(
            f"problem_format_version {version!r} is not one of {', '.join(READ_VERSIONS)}",
            code="unsupported_package",
        )
    kind = meta.get("type", "pass-fail")
    kinds = kind if isinstance(kind, list) else [kind]
    if kinds != ["pass-fail"]:
        raise InvalidPackage(
            f"type {kind!r}: only pass-fail problems are supported (not interactive, "
            "multi-pass, scoring or submit-answer)",
            code="unsupported_package",
        )
    raw_limits = meta.get("limits") or {}
    if not isinstance(raw_limits, dict):
        raise InvalidPackage("limits must be a mapping")
    time_limit = raw_limits.get("time_limit")
    multipliers = raw_limits.get("time_multipliers") or {}
    if not isinstance(multipliers, dict):
        raise InvalidPackage("limits.time_multipliers must be a mapping")
    memory = raw_limits.get("memory", 2048 if version != "legacy" else 1024)
    keywords = meta.get("keywords") or []
    if isinstance(keywords, str):
        keywords = keywords.split()
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise InvalidPackage("keywords must be a list of strings")
    difficulty: Difficulty = "Medium"
    tags: list[str] = []
    for keyword in keywords[:40]:
        if keyword.startswith(DIFFICULTY_KEYWORD):
            value = keyword[len(DIFFICULTY_KEYWORD) :].capitalize()
            if value in ("Easy", "Medium", "Hard"):
                difficulty = value
        elif TAG.match(keyword.lower()):
            tags.append(keyword.lower())
    statement, statement_format = _statement(files, root, limits)
    checker_language, checker_files, flags = _checker(files, root, meta, max_source)
    if checker_language is None:
        try:
            parse_flags(flags)  # the default validator's flags: refused now, not after proving
        except BadFlags as exc:
            raise InvalidPackage(f"output_validator_args: {exc}") from None
    return Package(
        slug=folder_name
        if folder_name and SLUG.match(folder_name) and len(folder_name) <= 64
        else None,
        title=_title(meta),
        statement=statement,
        statement_format=statement_format,
        difficulty=difficulty,
        tags=tags[:20],
        tests=_tests(files, root, limits),
        time_limit_s=None
        if time_limit is None
        else _number(time_limit, "limits.time_limit", low=0.05, high=limits.max_time_limit_s),
        memory_mb=min(
            int(_number(memory, "limits.memory", low=32, high=1 << 20)), limits.max_memory_mb
        ),
        checker_language=checker_language,
        checker_files=checker_files,
        flags=flags,
        submissions=_submissions(files, root, limits, max_source),
        starter_code=_starter_code(files, root),
        input_validators=_input_validators(files, root, max_source),
        provenance={
            key: _plain(meta[key], f"problem.yaml {key}") for key in PROVENANCE if key in meta
        },
        ac_to_time_limit=_number(
            multipliers.get("ac_to_time_limit", 2.0), "ac_to_time_limit", low=1, high=10
        ),
        time_limit_to_tle=_number(
            multipliers.get("time_limit_to_tle", 1.5), "time_limit_to_tle", low=1, high=10
        ),
        format_version=version,
    )


# --- writing one back

# The format requires an input validator; a problem written here through the API has none, so
# its export says so instead of inventing one.
ACCEPT_ALL = (
    "# Talent Quotient exported this problem without an input validator of its own: this one\n"
    "# accepts every input (exit 42). Replace it with a real one.\n"
    "import sys\n\nsys.stdin.read()\nsys.exit(42)\n"
)


def build(
    *,
    title: str,
    statement: str,
    statement_format: str,
    difficulty: str,
    tags: list[str],
    tests: list[PackageTest],
    time_limit_s: float,
    memory_mb: int,
    checker_files: list[PackageFile],
    flags: list[str],
    submissions: list[PackageSubmission],
    starter_code: dict[str, str],
    input_validators: list[PackageFile],
    folder: str,
    uuid: str,
    provenance: dict[str, Any] | None = None,
) -> bytes:
    """A 2025-09 package of one version, in a top folder named by the slug."""
    meta: dict[str, Any] = {
        "problem_format_version": FORMAT_VERSION,
        "type": "pass-fail",
        "name": {"en": title},
        "uuid": uuid,
        **(provenance or {}),
        "limits": {"time_limit": time_limit_s, "memory": memory_mb},
        "keywords": [*tags, f"{DIFFICULTY_KEYWORD}{difficulty.lower()}"],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:

        def put(name: str, text: str) -> None:
            archive.writestr(f"{folder}/{name}", text)

        put("problem.yaml", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True))
        suffix = "md" if statement_format == "markdown" else "tex"
        put(f"statement/problem.en.{suffix}", statement)
        for test in tests:
            put(f"data/{test.name}.in", test.input)
            put(f"data/{test.name}.ans", test.answer)
        if flags:
            for group in ("sample", "secret"):
                put(
                    f"data/{group}/test_group.yaml",
                    yaml.safe_dump({"output_validator_args": flags}),
                )
        for source in checker_files:
            put(f"output_validator/{source.name}", source.content)
        for source in input_validators or [PackageFile("accept_all.py", ACCEPT_ALL)]:
            put(f"input_validators/{source.name}", source.content)
        for submission in submissions:
            put(f"submissions/{submission.kind}/{submission.name}", submission.source)
        for language, code in sorted(starter_code.items()):
            if language in CODE_OF:
                put(f"attachments/templates/{CODE_OF[language]}/starter{SUFFIX_OF[language]}", code)
    return buffer.getvalue()
