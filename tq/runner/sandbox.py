"""Running untrusted code: one bubblewrap sandbox per stage (compile, run).

Imported only by the runner's tasks (the `runs` queue), never by the web process or the
ordinary workers. What a stage gets:

- new user, PID, network, IPC, UTS, mount and cgroup namespaces; no network at all (a new network
  namespace holds only its own loopback);
- a read-only bind of `/usr` (every runtime is a Debian package there) and a few files of `/etc`,
  `/proc` of its own PID namespace, a minimal `/dev`, size-capped tmpfs `/tmp`;
- a fresh size-capped tmpfs `/box` as the working directory holding the submitted files (the
  compile stage instead writes into a private host directory that the run stage then binds
  read-only, so a compiled program stays as the compiler left it);
- an empty environment: bwrap itself is started with none, because its own process is PID 1 of
  the sandbox and `/proc/1/environ` would otherwise show the worker's variables;
- uid 65534 inside, mapped to an unprivileged uid of this runner slot outside (when the runner is
  root), so `RLIMIT_NPROC` really bounds it and a sweep can kill whatever that uid still runs;
- rlimits for CPU seconds, address space, processes, file size, open files and core dumps;
- `--die-with-parent`, and the whole process group SIGKILLed at the wall-clock limit; when the
  sandbox's PID 1 dies the kernel kills everything else in its PID namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import re
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from tq.runner.cgroups import MemoryCgroup
from tq.runner.languages import LanguageSpec
from tq.runner.seccomp import deny_filter

BWRAP = "/usr/bin/bwrap"
SANDBOX_UID = 65534  # "nobody" inside the sandbox
# Files of /etc that runtimes read (the dynamic linker's cache, the JVM's and PHP's config).
ETC_BINDS = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/java-17-openjdk", "/etc/php")
MAX_FILES = 20
PR_SET_CHILD_SUBREAPER = 36

StageStatus = Literal["ok", "runtime_error", "time_limit", "memory_limit", "output_limit", "killed"]

# What runtimes print when an allocation hit the address-space limit.
FILE_LIMIT = re.compile(rb"File too large|No space left on device|file size limit exceeded", re.I)
OUT_OF_MEMORY = re.compile(
    rb"MemoryError|std::bad_alloc|heap out of memory|OutOfMemoryError|out of memory|"
    rb"Cannot allocate memory|memory allocation of \d+ bytes failed|Allowed memory size"
)


@dataclass(frozen=True)
class Limits:
    compile_timeout_s: float = 10.0
    run_timeout_s: float = 3.0
    memory_mb: int = 256
    processes: int = 64
    file_size_mb: int = 8
    open_files: int = 128
    output_bytes: int = 64 * 1024
    workdir_mb: int = 64
    compile_memory_mb: int = 1024  # a compiler's cgroup limit (javac, rustc, g++ templates)


@dataclass
class StageResult:
    status: StageStatus
    stdout: str
    stderr: str
    code: int | None
    signal: str | None
    truncated: bool
    time_ms: int
    memory_kb: int | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class SourceError(ValueError):
    """The submitted files cannot be laid out (bad names, too many)."""


# What a compiler writes: no submitted file may take this name.
PROGRAM = ".program"


def safe_relative_path(name: str) -> PurePosixPath:
    """A plain relative path: no `.` or `..` part, no part starting with `-` (it would read as
    an option to the interpreter or compiler), no empty part, a few levels at most."""
    parts = name.split("/")
    if (
        not re.fullmatch(r"[A-Za-z0-9._/-]{1,128}", name)
        or len(parts) > 4
        or any(part in ("", ".", "..") or part.startswith("-") for part in parts)
        or name == PROGRAM
    ):
        raise SourceError(f"file name {name!r} is not a plain relative path")
    return PurePosixPath(name)


# Java's comments, text blocks, strings and character literals, each running to the end of the
# source (or line) when unclosed: one linear pass, whatever a hostile source holds.
_JAVA_NOISE = re.compile(
    r'"""[\s\S]*?(?:"""|\Z)|"(?:\\.|[^"\\\n])*"?|\'(?:\\.|[^\'\\\n])*\'?'
    r"|//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)"
)
_JAVA_TYPE = re.compile(
    r"[{}]|\b((?:(?:public|protected|private|abstract|static|final|sealed|non-sealed|strictfp)"
    r"\s+){0,8})(?:class|record|enum|interface)\s+([A-Za-z_$][\w$]*)"
)
_JAVA_MAIN = re.compile(r"\bstatic\s+(?:[\w\[\]<>]+\s+){0,4}void\s+main\s*\(")


def java_classes(source: str) -> tuple[str | None, str | None]:
    """(the public top-level class, the first top-level class declaring `main`) of a Java
    source, read past comments, strings and character literals. Every pattern is bounded, so
    this stays linear on a hostile 64 KiB source (it runs before any sandbox limit applies)."""
    text = _JAVA_NOISE.sub(" ", source)
    public: str | None = None
    with_main: str | None = None
    depth = 0
    current: str | None = None
    start = 0
    for token in _JAVA_TYPE.finditer(text):
        if token.group(0) == "{":
            depth += 1
        elif token.group(0) == "}":
            depth -= 1
            if depth == 0 and current is not None:
                if with_main is None and _JAVA_MAIN.search(text, start, token.start()):
                    with_main = current
                current = None
        elif depth == 0:
            current, start = token.group(2), token.end()
            if "public" in token.group(1).split() and public is None:
                public = current
    return public, with_main


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


@dataclass
class _Capture:
    limit: int
    data: bytearray = field(default_factory=bytearray)
    over: bool = False

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.over = True
        self.data += chunk[: max(room, 0)]


class Workspace:
    """One submission's files on the host, compiled once and run any number of times."""

    def __init__(
        self,
        spec: LanguageSpec,
        files: list[tuple[str, str]],
        limits: Limits,
        *,
        base_dir: str | None = None,
        outer_uid: int | None = None,
        cgroup: MemoryCgroup | None = None,
    ) -> None:
        if not files:
            raise SourceError("no files")
        if len(files) > MAX_FILES:
            raise SourceError(f"at most {MAX_FILES} files")
        self.spec = spec
        self.limits = limits
        self.cgroup = cgroup
        self.outer_uid = outer_uid if os.geteuid() == 0 else None
        # Every name is checked before anything touches the host's disk.
        self.layout, self.main_class = self._names(files)
        self.main = str(self.layout[0][0])
        self.dir = Path(tempfile.mkdtemp(prefix="tq-run-", dir=base_dir))
        try:
            self._lay_out()
        except BaseException:
            self.close()
            raise

    def _names(self, files: list[tuple[str, str]]) -> tuple[list[tuple[PurePosixPath, str]], str]:
        layout: list[tuple[PurePosixPath, str]] = []
        main_class = "Main"
        for index, (given, content) in enumerate(files):
            name = given or (self.spec.source_name if index == 0 else f"file{index}")
            path = safe_relative_path(name)
            if index == 0 and self.spec.name == "java":
                # Like Piston's `java <file>`: whatever the class is called. javac wants a
                # public class in a file of its name; the run starts the class with `main`.
                public, with_main = java_classes(content)
                main_class = with_main or public or "Main"
                path = PurePosixPath(f"{public or main_class}.java")
            elif (
                index == 0
                and self.spec.source_suffixes
                and path.suffix not in (self.spec.source_suffixes)
            ):
                # A compiler reads the kind of a file from its suffix (`gcc main` links it).
                path = safe_relative_path(f"{name}{self.spec.source_suffixes[0]}")
            if any(path == seen for seen, _ in layout):
                raise SourceError(f"file {str(path)!r} given twice")
            layout.append((path, content))
        return layout, main_class

    def _lay_out(self) -> None:
        for path, content in self.layout:
            target = self.dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            os.chmod(target, 0o644)
        if self.outer_uid is not None:
            # The compile stage writes here as the sandbox's outer uid.
            os.chown(self.dir, self.outer_uid, self.outer_uid)
            for root, dirs, _ in os.walk(self.dir):
                for sub in dirs:
                    os.chown(Path(root) / sub, self.outer_uid, self.outer_uid)
        os.chmod(self.dir, 0o755)  # noqa: S103 - bwrap, as the slot's uid, must read it

    def put(self, name: str, content: str) -> None:
        """A data file beside the program (a checker's input and answer), read-only inside:
        every run binds the directory's regular files afresh."""
        target = self.dir / safe_relative_path(name)
        target.write_text(content, encoding="utf-8")
        os.chmod(target, 0o644)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _argv(self, template: tuple[str, ...]) -> list[str]:
        values = {
            "main": self.main,
            "main_class": self.main_class,
            "program": PROGRAM,
            "memory_mb": str(self.limits.memory_mb),
        }
        return [part.format(**values) for part in template]

    def compile(self) -> StageResult | None:
        """None for interpreted languages; else the compiler's stage."""
        if self.spec.compile is None:
            return None
        return self._stage(
            self._argv(self.spec.compile),
            b"",
            self.limits.compile_timeout_s,
            writable_box=True,
        )

    def run(self, stdin: str = "", args: list[str] | None = None) -> StageResult:
        return self._stage(
            self._argv(self.spec.run) + list(args or []),
            stdin.encode(),
            self.limits.run_timeout_s,
            writable_box=False,
        )

    # --- one sandboxed process

    def _box_files(self) -> Iterator[Path]:
        """Regular files the compile stage left (links and devices are never bound)."""
        for root, _dirs, names in os.walk(self.dir, followlinks=False):
            for name in names:
                path = Path(root) / name
                if stat.S_ISREG(path.lstat().st_mode):
                    yield path.relative_to(self.dir)

    def bwrap_argv(
        self, command: list[str], *, writable_box: bool, seccomp_fd: int | None = None
    ) -> list[str]:
        limits = self.limits
        argv = [
            BWRAP,
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_UID),
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/sbin",
            "/sbin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(limits.workdir_mb << 20),
            "--tmpfs",
            "/tmp",
        ]
        for path in ETC_BINDS:
            if os.path.exists(path):
                argv += ["--ro-bind", path, path]
        if writable_box:
            argv += ["--bind", str(self.dir), "/box"]
        else:
            argv += ["--size", str(limits.workdir_mb << 20), "--tmpfs", "/box"]
            for relative in self._box_files():
                argv += ["--ro-bind", str(self.dir / relative), f"/box/{relative}"]
        # bwrap's own `/` and `/dev` are tmpfs without a size: once everything is mounted both
        # become read-only, and the one writable place under /dev is a capped /dev/shm.
        argv += [
            "--size",
            str(limits.workdir_mb << 20),
            "--tmpfs",
            "/dev/shm",
            "--remount-ro",
            "/dev",
            "--remount-ro",
            "/",
        ]
        if seccomp_fd is not None:
            argv += ["--seccomp", str(seccomp_fd)]
        argv += [
            "--chdir",
            "/box",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/box",
            "--setenv",
            "LANG",
            "C.UTF-8",
        ]
        for key, value in self.spec.env:
            argv += ["--setenv", key, value]
        return [*argv, "--", *command]

    def _preexec(self, timeout_s: float, *, compiling: bool) -> Callable[[], None]:
        limits = self.limits
        # Linkers write intermediate files far larger than a program's output may be.
        file_size = (limits.workdir_mb if compiling else limits.file_size_mb) << 20
        memory = (limits.memory_mb + self.spec.extra_address_space_mb) << 20
        processes = limits.processes + self.spec.extra_processes
        cpu = math.ceil(timeout_s) + 1
        outer_uid = self.outer_uid
        cgroup = self.cgroup

        def apply() -> None:
            if cgroup is not None:
                cgroup.join()  # as root, before the uid changes
            set_limit = resource.setrlimit
            set_limit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            set_limit(resource.RLIMIT_AS, (memory, memory))
            set_limit(resource.RLIMIT_NPROC, (processes, processes))
            set_limit(resource.RLIMIT_FSIZE, (file_size, file_size))
            set_limit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
            set_limit(resource.RLIMIT_CORE, (0, 0))
            if outer_uid is not None:
                os.setgroups([])
                os.setgid(outer_uid)
                os.setuid(outer_uid)

        return apply

    def _stage(
        self, command: list[str], stdin: bytes, timeout_s: float, *, writable_box: bool
    ) -> StageResult:
        become_subreaper()
        if self.cgroup is not None:
            stage_mb = self.limits.memory_mb + self.spec.runtime_memory_mb
            self.cgroup.limit(
                max(stage_mb, self.limits.compile_memory_mb) if writable_box else stage_mb
            )
        seccomp_fd = _seccomp_memfd()
        try:
            argv = self.bwrap_argv(command, writable_box=writable_box, seccomp_fd=seccomp_fd)
            started = time.monotonic()
            proc = subprocess.Popen(  # noqa: S603 - argv built above, no shell
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={},  # bwrap is the sandbox's PID 1: its own environment must be empty too
                start_new_session=True,
                preexec_fn=self._preexec(timeout_s, compiling=writable_box),
                close_fds=True,
                pass_fds=(seccomp_fd,),
            )
        finally:
            os.close(seccomp_fd)
        try:
            outcome, captured = _pump(proc, stdin, started + timeout_s, self.limits.output_bytes)
            if outcome is not None:
                _kill_group(proc.pid)
            status_word = _reap(proc.pid, started + timeout_s + 1)
        finally:
            _kill_group(proc.pid)
            _reap_orphans()
            self.sweep()
            if self.cgroup is not None:
                self.cgroup.kill_all(_reap_orphans)
            _reap_orphans()
        elapsed_ms = int((time.monotonic() - started) * 1000)
        result = _result(outcome, captured, status_word, elapsed_ms)
        if self.cgroup is not None:
            memory = self.cgroup.measure()
            result.memory_kb = memory.peak_kb
            if memory.out_of_memory and result.status in ("killed", "runtime_error", "ok"):
                result.status = "memory_limit"
        return result

    def sweep(self) -> None:
        """Kill anything still running as this slot's outer uid (nothing should be)."""
        if self.outer_uid is not None:
            sweep_uid(self.outer_uid)


def capped_work_dir(base: str | None, name: str, megabytes: int) -> str:
    """A host directory for one slot's submissions on a tmpfs of `megabytes` (mounted once,
    root only), so the compile stage, which writes into it, has a size cap like every other
    writable mount. Without the rights to mount: the plain directory."""
    path = Path(base or tempfile.gettempdir()) / name
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o755)
    # In a shared temp directory another user may have made this name first, or made it a
    # link to somewhere else to mount over: only our own real directory is used.
    info = path.lstat()
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.geteuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        raise PermissionError(f"{path} is not a directory of this runner's own")
    mounted = any(
        line.split()[1] == str(path) for line in Path("/proc/mounts").read_text().splitlines()
    )
    if not mounted and os.geteuid() == 0:
        subprocess.run(  # noqa: S603 - fixed argv, our own path
            ["/bin/mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=755", "tmpfs", str(path)],
            check=True,
            capture_output=True,
            timeout=10,
        )
    # What a runner killed mid-run left here (the slot is this process's alone).
    for stale in path.glob("tq-run-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return str(path)


_subreaper = False
_seccomp_program: bytes | None = None


def _seccomp_memfd() -> int:
    """The deny-list filter in a memory file, rewound, for `bwrap --seccomp FD` (which reads
    it to the end). Built once per process."""
    global _seccomp_program
    if _seccomp_program is None:
        _seccomp_program = deny_filter()
    fd = os.memfd_create("tq-seccomp", 0)
    os.write(fd, _seccomp_program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def become_subreaper() -> None:
    """The sandbox's PID 1 runs in a session of its own (--new-session); when bwrap is killed it
    is orphaned. As a child subreaper this process inherits and reaps it, not the host's init."""
    global _subreaper
    if not _subreaper:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        _subreaper = True


def sweep_uid(uid: int) -> None:
    """SIGKILL every process of `uid`, from a forked child that becomes that uid: kill(-1)
    signals exactly the processes the caller may signal. No exec: a uid at its process limit
    (a fork bomb's) cannot exec anything after setuid. A few passes, since a fork bomb forks
    while a pass goes by (zombies also count as signalled, so "until none" would spin)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 0
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(3):
                os.kill(-1, signal.SIGKILL)
                time.sleep(0.001)
        except ProcessLookupError:
            code = 0  # nothing (left) to kill
        except BaseException:
            code = 1
        os._exit(code)
    os.waitpid(pid, 0)


def _reap_orphans() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _pump(
    proc: subprocess.Popen[bytes], stdin: bytes, deadline: float, cap: int
) -> tuple[str | None, tuple[_Capture, _Capture]]:
    """Feed stdin and collect both outputs until they close, the deadline passes
    ("time_limit") or an output passes its cap ("output_limit")."""
    assert proc.stdin and proc.stdout and proc.stderr
    out, err = _Capture(cap), _Capture(cap)
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ, out)
    selector.register(proc.stderr, selectors.EVENT_READ, err)
    pending = memoryview(stdin)
    if pending:
        os.set_blocking(proc.stdin.fileno(), False)
        selector.register(proc.stdin, selectors.EVENT_WRITE, None)
    else:
        proc.stdin.close()
    outcome: str | None = None
    try:
        while len(selector.get_map()) > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome = "time_limit"
                break
            for key, _ in selector.select(remaining):
                if key.data is None:  # stdin is writable
                    try:
                        written = os.write(key.fd, pending[:65536])
                    except (BrokenPipeError, OSError):
                        written = len(pending)
                    pending = pending[written:]
                    if not pending:
                        selector.unregister(key.fileobj)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                key.data.add(chunk)
                if key.data.over:
                    outcome = "output_limit"
                    break
            if outcome:
                break
    finally:
        selector.close()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                pipe.close()
    return outcome, (out, err)


def _reap(pid: int, deadline: float) -> int | None:
    """The sandbox's wait status, or None when it had to be killed for outliving its outputs
    (a program may close them and keep running)."""
    while True:
        done, status_word = os.waitpid(pid, os.WNOHANG)
        if done:
            return status_word
        if time.monotonic() > deadline:
            _kill_group(pid)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.002)


def _result(
    outcome: str | None,
    captured: tuple[_Capture, _Capture],
    status_word: int | None,
    elapsed_ms: int,
) -> StageResult:
    out, err = captured
    code: int | None = None
    signal_name: str | None = None
    if status_word is not None and os.WIFEXITED(status_word):
        code = os.WEXITSTATUS(status_word)
        # bwrap reports a child killed by signal N as exit status 128 + N.
        if 128 < code <= 128 + 64:
            signal_name, code = _signal_name(code - 128), None
    elif status_word is not None and os.WIFSIGNALED(status_word):
        signal_name = _signal_name(os.WTERMSIG(status_word))
    else:
        signal_name = "SIGKILL"
    status: StageStatus
    if outcome == "time_limit" or status_word is None or signal_name in ("SIGXCPU",):
        status = "time_limit"
        signal_name = signal_name or "SIGKILL"
    elif outcome == "output_limit" or signal_name == "SIGXFSZ":
        status = "output_limit"
    elif code == 0:
        status = "ok"
    elif OUT_OF_MEMORY.search(bytes(err.data[-4096:])):
        status = "memory_limit"
    elif FILE_LIMIT.search(bytes(err.data[-4096:])):
        status = "output_limit"  # the file size or work directory limit
    elif signal_name == "SIGKILL":
        status = "killed"
    else:
        status = "runtime_error"
    return StageResult(
        status=status,
        stdout=out.data.decode("utf-8", errors="replace"),
        stderr=err.data.decode("utf-8", errors="replace"),
        code=code,
        signal=signal_name,
        truncated=out.over or err.over,
        time_ms=elapsed_ms,
        # wait4's ru_maxrss would include the forked worker's own RSS (the kernel records the
        # pre-exec image's peak), so it says nothing about the program: the cgroup's peak is
        # filled in by the caller where there is one.
        memory_kb=None,
    )
