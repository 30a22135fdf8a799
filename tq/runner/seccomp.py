"""A classic-BPF seccomp deny list for the sandbox, in the raw form `bwrap --seccomp FD` reads.

Everything is allowed except the syscalls below, which fail with EPERM (io_uring: ENOSYS):
- io_uring_*: a large, often-exploited kernel surface; ENOSYS so libuv/Node etc. fall back to epoll.
- perf_event_open, bpf, userfaultfd: kernel-exploit primitives (and side channels) no program needs.
- add_key, keyctl, request_key: the kernel keyring is not namespaced.
- ptrace, process_vm_readv/writev, pidfd_getfd: no reaching into other processes (breaks gdb/LSan).
- kexec_*, *init_module, delete_module, reboot, swapon/off, acct, quotactl(_fd), syslog, vhangup,
  iopl/ioperm (x86_64), lookup_dcookie: host administration.
- mount, umount2, pivot_root, the new mount API (open_tree, move_mount, fs*, mount_setattr),
  setns, unshare: the sandbox's namespaces and mounts stay as bwrap left them.
- fanotify_init, open_by_handle_at, name_to_handle_at: watching the host / escaping a bind mount
  via file handles.
- move_pages: NUMA page moves of other processes.
Not denied on purpose: personality (glibc, qemu), clone3 (glibc's threads), clone (its flags are
not inspected: new namespaces already need caps the sandbox lacks, and bwrap --disable-userns).

The arch in seccomp_data is checked: a filter is built for x86_64 or aarch64 and kills any other
arch (e.g. i386 via int 0x80 on x86_64); on x86_64 x32 syscalls (nr & 0x40000000) get ENOSYS.

Numbers: x86_64 from /usr/include/x86_64-linux-gnu/asm/unistd_64.h, aarch64 from the
asm-generic table /usr/include/asm-generic/unistd.h (arm64 uses it), both linux-libc-dev 6.1;
mount_setattr (442) and quotactl_fd (443) are the same on both arches. verify.py re-checks them.
"""

from __future__ import annotations

import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E  # EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
AUDIT_ARCH_AARCH64 = 0xC00000B7  # EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
X32_SYSCALL_BIT = 0x40000000

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
EPERM, ENOSYS = 1, 38

# BPF opcodes (linux/filter.h)
BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JSET_K = 0x05 | 0x40 | 0x00  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06 | 0x00
BPF_MAXINSNS = 4096
OFF_NR, OFF_ARCH = 0, 4  # struct seccomp_data { int nr; __u32 arch; __u64 ip; __u64 args[6]; }

ENOSYS_CALLS = ("io_uring_setup", "io_uring_enter", "io_uring_register")
# name: (x86_64, aarch64); None = the arch has no such syscall.
SYSCALLS: dict[str, tuple[int | None, int | None]] = {
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "perf_event_open": (298, 241),
    "bpf": (321, 280),
    "userfaultfd": (323, 282),
    "add_key": (248, 217),
    "keyctl": (250, 219),
    "request_key": (249, 218),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "pidfd_getfd": (438, 438),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "reboot": (169, 142),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "quotactl_fd": (443, 443),
    "syslog": (103, 116),
    "vhangup": (153, 58),
    "iopl": (172, None),
    "ioperm": (173, None),
    "lookup_dcookie": (212, 18),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "setns": (308, 268),
    "unshare": (272, 97),
    "fanotify_init": (300, 262),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "move_pages": (279, 239),
}
DENIED: tuple[str, ...] = tuple(SYSCALLS)

ARCHES = {  # platform.machine() -> (AUDIT_ARCH, column in SYSCALLS)
    "x86_64": (AUDIT_ARCH_X86_64, 0),
    "amd64": (AUDIT_ARCH_X86_64, 0),
    "aarch64": (AUDIT_ARCH_AARCH64, 1),
    "arm64": (AUDIT_ARCH_AARCH64, 1),
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    if not (0 <= jt <= 255 and 0 <= jf <= 255):
        raise ValueError("BPF jump offset out of range")
    return struct.pack("=HBBI", code, jt, jf, k)  # struct sock_filter, native byte order


def build_filter(machine: str) -> bytes:
    """The deny-list program for one arch (a platform.machine() name)."""
    try:
        audit_arch, column = ARCHES[machine.lower()]
    except KeyError:
        raise ValueError(f"no seccomp syscall table for {machine!r}") from None
    # Each check jumps forward to one of three returns placed after the final "allow".
    checks: list[tuple[int, int, str]] = []  # (opcode, k, target)
    if audit_arch == AUDIT_ARCH_X86_64:
        checks.append((BPF_JSET_K, X32_SYSCALL_BIT, "enosys"))
    for name, numbers in SYSCALLS.items():
        nr = numbers[column]
        if nr is not None:
            checks.append((BPF_JEQ_K, nr, "enosys" if name in ENOSYS_CALLS else "eperm"))
    n = len(checks)
    where = {"eperm": n + 1, "enosys": n + 2}  # index of each return, counted from the first check
    prog = [
        _insn(BPF_LD_W_ABS, OFF_ARCH),
        _insn(BPF_JEQ_K, audit_arch, 1, 0),
        _insn(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
        _insn(BPF_LD_W_ABS, OFF_NR),
    ]
    for i, (code, k, target) in enumerate(checks):
        prog.append(_insn(code, k, where[target] - (i + 1), 0))
    prog += [
        _insn(BPF_RET_K, SECCOMP_RET_ALLOW),
        _insn(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM),
        _insn(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS),
    ]
    if len(prog) > BPF_MAXINSNS:
        raise ValueError("seccomp program too long")
    return b"".join(prog)


def deny_filter() -> bytes:
    """The deny-list program for this machine's arch, for `bwrap --seccomp FD`."""
    return build_filter(platform.machine())
