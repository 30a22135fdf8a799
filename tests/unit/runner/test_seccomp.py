"""Unit tests of tq.runner.seccomp: the classic-BPF deny list bwrap loads."""

from __future__ import annotations

import struct

import pytest

from tq.runner.seccomp import build_filter

ERRNO_EPERM, ERRNO_ENOSYS = 0x00050001, 0x00050026
RET = 0x06


def _insns(program: bytes) -> list[tuple[int, int, int, int]]:
    assert len(program) % 8 == 0
    return [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]


@pytest.mark.parametrize(
    ("machine", "arch", "length"),
    [
        # 4 header + 1 x32 check + 45 syscalls + 3 returns
        ("x86_64", 0xC000003E, 53),
        ("AMD64", 0xC000003E, 53),
        # 4 header + 43 syscalls (no iopl, ioperm) + 3 returns
        ("aarch64", 0xC00000B7, 50),
        ("arm64", 0xC00000B7, 50),
    ],
)
def test_the_program_checks_the_arch_then_the_syscall(machine: str, arch: int, length: int) -> None:
    program = build_filter(machine)
    assert len(program) == 8 * length
    insns = _insns(program)
    assert insns[:4] == [
        (0x20, 0, 0, 4),  # load seccomp_data.arch
        (0x15, 1, 0, arch),  # the expected arch skips the kill
        (RET, 0, 0, 0x80000000),  # SECCOMP_RET_KILL_PROCESS
        (0x20, 0, 0, 0),  # load seccomp_data.nr
    ]
    assert insns[-3:] == [
        (RET, 0, 0, 0x7FFF0000),
        (RET, 0, 0, ERRNO_EPERM),
        (RET, 0, 0, ERRNO_ENOSYS),
    ]


def _targets(machine: str) -> dict[int, int]:
    """{syscall number: the k of the return its match jumps to} (JEQ checks only)."""
    insns = _insns(build_filter(machine))
    found = {}
    for index in range(4, len(insns) - 3):
        code, jt, jf, k = insns[index]
        assert jf == 0
        landing = insns[index + 1 + jt]
        assert landing[0] == RET
        if code == 0x15:
            found[k] = landing[3]
    return found


def test_x86_64_denies_with_eperm_and_io_uring_with_enosys() -> None:
    targets = _targets("x86_64")
    assert len(targets) == 45
    assert {nr for nr, ret in targets.items() if ret == ERRNO_ENOSYS} == {425, 426, 427}
    assert targets[101] == ERRNO_EPERM  # ptrace
    assert targets[165] == ERRNO_EPERM  # mount
    assert targets[172] == ERRNO_EPERM  # iopl
    code, jt, _, k = _insns(build_filter("x86_64"))[4]
    assert (code, k) == (0x45, 0x40000000)  # x32 syscalls: JSET of the x32 bit ...
    assert _insns(build_filter("x86_64"))[5 + jt][3] == ERRNO_ENOSYS  # ... get ENOSYS


def test_aarch64_uses_its_own_numbers() -> None:
    targets = _targets("aarch64")
    assert len(targets) == 43
    assert targets[117] == ERRNO_EPERM  # ptrace
    assert targets[40] == ERRNO_EPERM  # mount
    assert 101 not in targets and 172 not in targets
    assert build_filter("aarch64") != build_filter("x86_64")


def test_an_unknown_machine_has_no_filter() -> None:
    with pytest.raises(ValueError, match="no seccomp syscall table for 'mips'"):
        build_filter("mips")
