"""The memory limit of a sandboxed stage: a memory cgroup per runner slot.

An address-space rlimit cannot hold runtimes that reserve far more than they touch (V8, the JVM,
Go, Rust's allocator); a cgroup counts what a stage really uses, files it writes to tmpfs
included, and the kernel kills the stage when it passes the limit. Runner-only, and only when
the runner is root (it creates and joins cgroups).

- cgroup v2 (`memory` in the unified hierarchy): the slot's cgroup is a child of the runner's
  own; since a cgroup with processes cannot delegate controllers to children, the runner first
  moves its own processes into a `supervisor` leaf. `memory.max`, `memory.swap.max` 0,
  `memory.events` (oom_kill) and `memory.peak`.
- cgroup v1 (a `memory` hierarchy, as on hybrid hosts): a child of the runner's own memory
  cgroup with `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes` where swap is
  accounted), `memory.oom_control` (oom_kill) and `memory.max_usage_in_bytes`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CgroupUnavailable(RuntimeError):
    """No memory cgroup can be made here (not root, or no memory controller)."""


def _own_path(controller: str | None) -> str:
    """This process's cgroup path in the v1 `controller` hierarchy, or in v2 when None."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (
            controller is not None and controller in controllers.split(",")
        ):
            return path.lstrip("/")
    raise CgroupUnavailable(f"this process is in no {controller or 'v2'} cgroup")


def _write(path: Path, value: str) -> None:
    path.write_text(value)


@dataclass
class StageMemory:
    """What the kernel counted for one stage."""

    peak_kb: int | None
    out_of_memory: bool


class MemoryCgroup:
    """One slot's cgroup: `limit(mb)` before a stage, `join()` in the stage's child before
    exec, `measure()` after it."""

    def __init__(self, directory: Path, version: int) -> None:
        self.dir = directory
        self.version = version
        self._oom_before = 0
        # v2: the peak is reset per open file (kernels 6.12+): the stage's peak is read back
        # from the descriptor that reset it. None: no per-stage peak here, none is reported.
        self._peak_fd: int | None = None

    @classmethod
    def for_slot(cls, name: str) -> MemoryCgroup:
        if os.geteuid() != 0:
            raise CgroupUnavailable("the runner is not root")
        unified = CGROUP_ROOT / "cgroup.controllers"
        if unified.exists() and "memory" in unified.read_text().split():
            return cls._v2(name)
        if (CGROUP_ROOT / "memory" / "memory.limit_in_bytes").exists():
            parent = CGROUP_ROOT / "memory" / _own_path("memory")
            directory = parent / name
            directory.mkdir(exist_ok=True)
            return cls(directory, 1)
        raise CgroupUnavailable("no memory controller is mounted")

    @classmethod
    def _v2(cls, name: str) -> MemoryCgroup:
        own = CGROUP_ROOT / _own_path(None)
        if "memory" not in (own / "cgroup.subtree_control").read_text().split():
            supervisor = own / "supervisor"
            supervisor.mkdir(exist_ok=True)
            for pid in (own / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError, OSError):
                    _write(supervisor / "cgroup.procs", pid)
            _write(own / "cgroup.subtree_control", "+memory")
        directory = own / name
        directory.mkdir(exist_ok=True)
        return cls(directory, 2)

    def limit(self, megabytes: int) -> None:
        """Set the limit for the next stage and start counting afresh."""
        size = str(megabytes << 20)
        if self.version == 2:
            _write(self.dir / "memory.max", size)
            with contextlib.suppress(OSError):
                _write(self.dir / "memory.swap.max", "0")
            self._close_peak()
            try:
                fd = os.open(self.dir / "memory.peak", os.O_RDWR)
            except OSError:
                fd = None
            if fd is not None:
                try:
                    os.write(fd, b"reset")
                    self._peak_fd = fd
                except OSError:  # before 6.12: only the cgroup's lifetime peak, not reported
                    os.close(fd)
        else:
            # memsw must stay >= the plain limit: lower the plain one first when shrinking.
            memsw = self.dir / "memory.memsw.limit_in_bytes"
            with contextlib.suppress(OSError):
                _write(self.dir / "memory.limit_in_bytes", size)
            if memsw.exists():
                _write(memsw, size)
            _write(self.dir / "memory.limit_in_bytes", size)
            with contextlib.suppress(OSError):
                _write(self.dir / "memory.max_usage_in_bytes", "0")
        self._oom_before = self._oom_kills()

    def join(self) -> None:
        """Move the calling process (the stage's child, before exec) into the cgroup."""
        _write(self.dir / "cgroup.procs", str(os.getpid()))

    def kill_all(self, reap: Callable[[], None], timeout_s: float = 2.0) -> bool:
        """SIGKILL whatever is still in the cgroup (nothing should be): no process can leave
        it, so this finds a fork bomb's last children however fast they fork. `reap` collects
        the killed (a zombie may stay listed until reaped). True when it is empty."""
        deadline = time.monotonic() + timeout_s
        kill_file = self.dir / "cgroup.kill"
        while True:
            pids = [int(p) for p in (self.dir / "cgroup.procs").read_text().split()]
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            if kill_file.exists():
                _write(kill_file, "1")  # cgroup v2, kernels 5.14 and later: all at once
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)
            reap()

    def measure(self) -> StageMemory:
        peak_kb: int | None = None
        try:
            if self.version == 1:
                peak_kb = int((self.dir / "memory.max_usage_in_bytes").read_text()) // 1024
            elif self._peak_fd is not None:
                peak_kb = int(os.pread(self._peak_fd, 64, 0).decode()) // 1024
        except (OSError, ValueError):
            peak_kb = None
        finally:
            self._close_peak()
        return StageMemory(peak_kb, self._oom_kills() > self._oom_before)

    def _close_peak(self) -> None:
        if self._peak_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._peak_fd)
            self._peak_fd = None

    def _oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in (self.dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0
