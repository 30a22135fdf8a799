"""The package reader against hostile zips, measured: what it holds in memory while it refuses
a bomb (tracemalloc's peak, not a wall clock), and zips whose headers lie about their sizes."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import pytest

from tq.core.errors import AppError
from tq.problems import kattis
from tq.problems.judging import BadFlags, Flags, parse_flags, tokens_match

LIMITS = kattis.PackageLimits(
    max_bytes=12 << 20,
    max_unpacked_bytes=32 << 20,
    max_file_bytes=8 << 20,
    max_files=1000,
    max_ratio=2000,
    max_submissions=30,
    max_tests=500,
    max_test_bytes=8 << 20,
    max_time_limit_s=10,
    max_memory_mb=1024,
    max_statement_bytes=64 << 10,
)


def bomb_of_zeros() -> bytes:
    """A real zip bomb: 256 MiB of zeros deflated to about 250 KB, written in chunks."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("p/data/secret/1.in", "w", force_zip64=True) as member,
    ):
        chunk = bytes(1 << 20)
        for _ in range(256):
            member.write(chunk)
    return buffer.getvalue()


def refused(data: bytes) -> tuple[str, int]:
    """The refusal's code and the reader's peak memory while refusing."""
    tracemalloc.start()
    try:
        kattis.unpack(data, LIMITS)
    except AppError as exc:
        _, peak = tracemalloc.get_traced_memory()
        return exc.code, peak
    finally:
        tracemalloc.stop()
    raise AssertionError("not refused")


def test_a_bomb_is_refused_without_unpacking_it() -> None:
    bomb = bomb_of_zeros()
    assert len(bomb) < 1 << 20  # the upload is small
    code, peak = refused(bomb)
    assert code == "file_too_large"
    # Measured: the reader never held more than a few MB, not the 256 MiB.
    assert peak < 8 << 20, peak


def lying(declared: int, real: bytes) -> bytes:
    """A zip whose headers say `declared` bytes for a file that unpacks to `real`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("p/data/secret/1.in", real)
    data = bytearray(buffer.getvalue())
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, declared)  # uncompressed size, local header
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)  # uncompressed size, central directory
    return bytes(data)


def test_a_zip_that_lies_about_its_sizes_is_stopped_at_the_declared_size() -> None:
    code, peak = refused(lying(1000, bytes(6 << 20)))
    assert code in ("zip_bomb", "invalid_package")
    assert peak < 4 << 20, peak  # stopped near the 1,000 bytes it declared, not at 6 MB


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("../x", "unsafe_path"),
        ("a/../../x", "unsafe_path"),
        ("/abs", "unsafe_path"),
        ("C:/windows", "unsafe_path"),
        ("a\\b", "unsafe_path"),
        ("a/\x01b", "unsafe_path"),
        ("a/" + "b/" * 9 + "c", "unsafe_path"),
    ],
)
def test_hostile_names(name: str, code: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), b"x")
    assert refused(buffer.getvalue())[0] == code


def test_duplicate_names_differing_by_case_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("p/problem.yaml", b"name: a")
        archive.writestr("p/PROBLEM.yaml", b"name: b")
    assert refused(buffer.getvalue())[0] == "duplicate_file"


def test_the_default_output_validator_flags() -> None:
    plain = Flags()
    assert tokens_match("1  2\n3", "1 2 3\n", plain)
    assert tokens_match("YES", "yes", plain)
    assert not tokens_match("YES", "yes", parse_flags(["case_sensitive"]))
    assert not tokens_match("1  2", "1 2", parse_flags(["space_change_sensitive"]))
    tolerant = parse_flags(["float_tolerance", "1e-6"])
    assert tokens_match("0.3333333", "0.33333333", tolerant)
    assert not tokens_match("0.334", "0.333", tolerant)
    assert not tokens_match("nan", "1.0", tolerant)
    relative = parse_flags(["float_relative_tolerance", "0.01"])
    assert tokens_match("1005", "1000", relative) and not tokens_match("1020", "1000", relative)
    for bad in (["float_tolerance"], ["float_tolerance", "x"], ["float_tolerance", "-1"], ["rm"]):
        with pytest.raises(BadFlags):
            parse_flags(bad)


def _package(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


MINIMAL = {
    "p/problem.yaml": b"problem_format_version: 2025-09\nname: Minimal\n",
    "p/statement/problem.en.md": b"Print the input.\n",
    "p/data/sample/1.in": b"1\n",
    "p/data/sample/1.ans": b"1\n",
}


def parsed(entries: dict[str, bytes]) -> kattis.Package:
    return kattis.parse(_package(entries), LIMITS, 64 * 1024)


def refusal(entries: dict[str, bytes]) -> str:
    with pytest.raises(AppError) as caught:
        parsed(entries)
    return caught.value.code


@pytest.mark.parametrize(
    "yaml_tail",
    [
        b"license: 2020-01-01\n",  # a date: kept as text
        b"uuid: 99999999999999999999999\n",  # past 64 bits: kept as text
    ],
)
def test_provenance_is_kept_as_plain_values(yaml_tail: bytes) -> None:
    meta = MINIMAL["p/problem.yaml"] + yaml_tail
    package = parsed(MINIMAL | {"p/problem.yaml": meta})
    assert all(isinstance(v, str) for v in package.provenance.values()), package.provenance


@pytest.mark.parametrize(
    "yaml_tail",
    [
        b"credits: {authors: &a [*a]}\n",  # a list holding itself
        b"credits: {1: x}\n",  # a key that is not text
        b"source: !!set {a, b}\n",  # not plain YAML
        b"credits: " + b"x" * 2000 + b"\n",
    ],
)
def test_provenance_that_could_not_be_stored_is_refused(yaml_tail: bytes) -> None:
    meta = MINIMAL["p/problem.yaml"] + yaml_tail
    assert refusal(MINIMAL | {"p/problem.yaml": meta}) == "invalid_package"


def test_what_the_package_reader_refuses_or_ignores() -> None:
    assert parsed(MINIMAL).title == "Minimal"
    # macOS's archiver adds these beside the files: ignored.
    assert parsed(MINIMAL | {"__MACOSX/p/._problem.yaml": b"x", "p/.DS_Store": b"x"}).tests
    # The same name in two Unicode normalisations is one file twice.
    twice = {"p/data/secret/caf\u00e9.in": b"1", "p/data/secret/cafe\u0301.in": b"1"}
    assert refusal(MINIMAL | twice) == "duplicate_file"
    bidi = MINIMAL | {"p/problem.yaml": b'name: "Evil \\u202e title"\n'}
    assert refusal(bidi) == "invalid_package"
    flags = MINIMAL | {
        "p/data/secret/test_group.yaml": b"output_validator_args: [float_tolerance, x]\n"
    }
    assert refusal(flags) == "invalid_package"
    big_validator = MINIMAL | {"p/input_validators/v.py": b"#" * (70 * 1024)}
    assert refusal(big_validator) == "source_too_large"


def test_a_directory_with_data_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in MINIMAL.items():
            archive.writestr(name, data)
        folder = zipfile.ZipInfo("p/data/secret/x.in/")
        archive.writestr(folder, b"hidden data in a folder entry")
    with pytest.raises(AppError) as caught:
        kattis.parse(buffer.getvalue(), LIMITS, 64 * 1024)
    assert caught.value.code == "invalid_package"


def test_the_entry_count_is_read_before_the_directory() -> None:
    many = {f"p/data/secret/{i}.in": b"" for i in range(1200)}
    data = _package(many)
    assert kattis._entry_count(data) == 1200
    code, peak = refused(data)
    assert code == "too_many_files"
    assert peak < 1 << 20, peak  # refused from the record, before listing 1,200 entries
