"""The languages the runner knows: how to compile and run each one inside the sandbox.

Pure data, safe to import anywhere. Every path is a Debian package's binary under `/usr`, which
is the only tree (besides a few files of `/etc`) the sandbox binds read-only. Which of these a
runner really serves is found at its start (`discover`): a language whose binary is missing is
left out, and each version is what the binary itself prints.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    aliases: tuple[str, ...]
    source_name: str  # the first file's name when the client gave none
    binary: str  # its presence decides whether this runner serves the language
    # argv; {main} is the primary source file, {program} what the compiler wrote, {memory_mb}
    # the memory limit
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    version_argv: tuple[str, ...] = ()
    version_pattern: str = r"(\d+\.\d+(?:\.\d+)?)"
    # Runtimes that reserve address space far beyond what they use (V8, the JVM, Go) cannot
    # live under a plain address-space limit of the memory size; they get this much more
    # address space and are held to the memory limit by their own heap flag instead.
    extra_address_space_mb: int = 0
    env: tuple[tuple[str, str], ...] = ()
    # Go's and the JVM's runtimes start threads of their own, counted by the process limit.
    extra_processes: int = 0
    # What the runtime itself needs besides the program's own memory (the JVM's metaspace and
    # code cache, V8's isolate): added to the stage's cgroup limit, which holds everything.
    runtime_memory_mb: int = 0
    source_suffixes: tuple[str, ...] = field(default_factory=tuple)


JAVA_FLAGS = (
    "-Xmx{memory_mb}m",
    "-Xss16m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:ReservedCodeCacheSize=32m",
    "-XX:MaxMetaspaceSize=96m",
    "-XX:CompressedClassSpaceSize=32m",
    "-Xshare:auto",
)

LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        "python",
        ("py", "python3", "py3"),
        "main.py",
        "/usr/bin/python3",
        ("/usr/bin/python3", "-B", "{main}"),
        version_argv=("/usr/bin/python3", "--version"),
        source_suffixes=(".py",),
    ),
    LanguageSpec(
        "javascript",
        ("js", "node", "node-js", "nodejs"),
        "main.js",
        "/usr/bin/node",
        ("/usr/bin/node", "--max-old-space-size={memory_mb}", "--stack-size=8000", "{main}"),
        version_argv=("/usr/bin/node", "--version"),
        extra_address_space_mb=2048,
        runtime_memory_mb=64,
        source_suffixes=(".js", ".mjs", ".cjs"),
    ),
    LanguageSpec(
        "c",
        ("gcc",),
        "main.c",
        "/usr/bin/gcc",
        ("./{program}",),
        compile=("/usr/bin/gcc", "-O2", "-std=gnu17", "-pipe", "-o", "{program}", "{main}", "-lm"),
        version_argv=("/usr/bin/gcc", "-dumpfullversion"),
        source_suffixes=(".c", ".h"),
    ),
    LanguageSpec(
        "cpp",
        ("c++", "g++", "cplusplus"),
        "main.cpp",
        "/usr/bin/g++",
        ("./{program}",),
        compile=("/usr/bin/g++", "-O2", "-std=gnu++17", "-pipe", "-o", "{program}", "{main}"),
        version_argv=("/usr/bin/g++", "-dumpfullversion"),
        source_suffixes=(".cpp", ".cc", ".cxx", ".hpp", ".h"),
    ),
    LanguageSpec(
        "java",
        ("jdk", "openjdk"),
        "Main.java",
        "/usr/bin/javac",
        ("/usr/bin/java", *JAVA_FLAGS, "-cp", ".", "{main_class}"),
        compile=("/usr/bin/javac", "-J-Xmx512m", "-J-XX:+UseSerialGC", "-d", ".", "{main}"),
        version_argv=("/usr/bin/javac", "-version"),
        # javac itself runs on the JVM with a larger heap than a run gets.
        extra_address_space_mb=3072,
        extra_processes=64,
        runtime_memory_mb=192,
        source_suffixes=(".java",),
    ),
    LanguageSpec(
        "go",
        ("golang",),
        "main.go",
        "/usr/bin/go",
        ("./{program}",),
        compile=("/usr/bin/go", "build", "-o", "{program}", "{main}"),
        version_argv=("/usr/bin/go", "version"),
        extra_address_space_mb=1024,
        env=(
            ("GOCACHE", "/tmp/go-cache"),
            ("GOPATH", "/tmp/go"),
            ("GO111MODULE", "off"),
            ("CGO_ENABLED", "0"),
            ("GOMAXPROCS", "2"),
        ),
        extra_processes=64,
        source_suffixes=(".go",),
    ),
    LanguageSpec(
        "ruby",
        ("rb",),
        "main.rb",
        "/usr/bin/ruby",
        ("/usr/bin/ruby", "{main}"),
        version_argv=("/usr/bin/ruby", "--version"),
        source_suffixes=(".rb",),
    ),
    LanguageSpec(
        "php",
        (),
        "main.php",
        "/usr/bin/php",
        ("/usr/bin/php", "-d", "memory_limit={memory_mb}M", "{main}"),
        version_argv=("/usr/bin/php", "--version"),
        source_suffixes=(".php",),
    ),
    LanguageSpec(
        "rust",
        ("rs",),
        "main.rs",
        "/usr/bin/rustc",
        ("./{program}",),
        compile=("/usr/bin/rustc", "-C", "opt-level=1", "-o", "{program}", "{main}"),
        version_argv=("/usr/bin/rustc", "--version"),
        extra_address_space_mb=1024,
        source_suffixes=(".rs",),
    ),
    LanguageSpec(
        "sql",
        ("sqlite", "sqlite3"),
        "main.sql",
        "/usr/bin/sqlite3",
        ("/usr/bin/sqlite3", "-batch", "-bail", ":memory:", ".read {main}"),
        version_argv=("/usr/bin/sqlite3", "--version"),
        source_suffixes=(".sql",),
    ),
)

BY_NAME: dict[str, LanguageSpec] = {spec.name: spec for spec in LANGUAGES}


@dataclass(frozen=True)
class Runtime:
    """A language this runner serves, with the version its binary reported."""

    language: str
    version: str
    aliases: tuple[str, ...]


def probe_version(spec: LanguageSpec) -> str | None:
    """The version the binary prints, or None when it is missing or broken."""
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv of a trusted system binary
            list(spec.version_argv),
            capture_output=True,
            text=True,
            timeout=20,
            env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(spec.version_pattern, out.stdout + out.stderr)
    return match.group(1) if out.returncode == 0 and match else None


def discover() -> list[Runtime]:
    """The languages whose binaries are installed here, in the table's order."""
    runtimes = []
    for spec in LANGUAGES:
        version = probe_version(spec)
        if version:
            runtimes.append(Runtime(spec.name, version, spec.aliases))
    return runtimes


def resolve(name: str, available: list[Runtime]) -> Runtime | None:
    """A runtime by its name or one of its aliases (case-insensitive)."""
    wanted = name.strip().lower()
    for runtime in available:
        if wanted == runtime.language or wanted in runtime.aliases:
            return runtime
    return None
