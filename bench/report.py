"""Reporting for the benchmarks: where results go, how a machine is described, and the
markdown tables of each benchmark."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from typing import Any

from tests.support import ROOT

RESULTS = ROOT / "bench" / "results"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def save(stem: str, report: dict[str, Any], table: str) -> None:
    """bench/results/<stem>.json and .md, and the table on stdout."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / stem
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(table)
    print(table)


def _errors(row: dict[str, Any]) -> str:
    kinds = row.get("error_kinds") or {}
    if not kinds:
        return str(row["errors"])
    return f"{row['errors']} ({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items()))})"


def api_table(report: dict[str, Any]) -> str:
    lines = [f"Benchmark {report['date']} on {report['machine']}", ""]
    for workers, rows in report["load"].items():
        lines += [
            f"**{workers}** (sessions: {report['sessions_during_load']:,}, messages in the "
            f"history session: {report['messages']:,})",
            "",
            "| endpoint | c | req/s | p50 ms | p99 ms | web CPU ms/req | errors |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['name']} | {r['concurrency']} | {r['rps']} | {r['p50_ms']} | "
            f"{r['p99_ms']} | {r.get('cpu_ms_per_request', '')} | {_errors(r)} |"
            for r in rows
        ]
        lines.append("")
    previous = report.get("previous")
    if previous:
        lines += [
            f"**Against the previous run** ({previous['file']}, WORKERS=1, req/s)",
            "",
            "| endpoint | c | before | now | ratio |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {row['name']} | {row['concurrency']} | {row['before']} | {row['now']} | "
            f"{row['ratio']} |"
            for row in previous["rows"]
        ]
        lines.append("")
    lines += [
        "**Ours vs baseline** (same query with motor, no layers; 1 worker)",
        "",
        "| endpoint | c | ours req/s | baseline req/s | ratio |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {row['name']} | {row['concurrency']} | {row['ours']} | {row['baseline']} | "
        f"{row['ratio']} |"
        for row in report["baseline"]
    ]
    lines += [
        "",
        "**Scale** (p50 ms, concurrency 1)",
        "",
        "| endpoint | 1,000 documents | 100,000 documents | ratio |",
        "|---|---|---|---|",
    ]
    small, large = report["scale"]["1000"], report["scale"]["100000"]
    for key in ("list", "my-recent"):
        lines.append(
            f"| {key} (sessions) | {small[key]} | {large[key]} | "
            f"{round(large[key] / small[key], 2)} |"
        )
    lines.append(
        f"| history (messages in the session) | {large['history_small']} | "
        f"{large['history']} | {round(large['history'] / large['history_small'], 2)} |"
    )
    health = report["health_under_login"]
    lines += [
        "",
        f"**Event loop**: health p99 {health['health']['p99_ms']} ms while "
        f"{health['logins']['rps']} logins/s ran at concurrency 16.",
        "",
    ]
    lines += ["**Query plans**", ""] + [
        f"- {name}: `{json.dumps(plan)[:300]}`" for name, plan in report["plans"].items()
    ]
    return "\n".join(lines) + "\n"


def jobs_table(report: dict[str, Any]) -> str:
    expiry = report["expire_sessions"]
    lines = [
        f"# Jobs benchmark {report['date']}",
        "",
        f"Machine: {report['machine']}. Database: {report['database']}.",
        "",
        "## expire_sessions",
        "",
        "| sessions | closed (cancelled / completed) | closing | queueing the channel syncs "
        "| re-run | end state |",
        "|---|---|---|---|---|---|",
        f"| {expiry['sessions']:,} | {expiry['changed']['cancelled']:,} / "
        f"{expiry['changed']['completed']:,} | {expiry['seconds']} s | "
        f"{expiry['fan_out_queued']:,} in {expiry['fan_out_seconds']} s | "
        f"{expiry['rerun_seconds']} s, nothing changed | "
        f"{'as the seed says' if expiry['correct'] else 'WRONG'} |",
        "",
        "## archive_chat_history (one session)",
        "",
        "| messages | chunk | chunks | time | peak Python memory | end state |",
        "|---|---|---|---|---|---|",
    ]
    for run in report["archive"]:
        lines.append(
            f"| {run['messages']:,} | {run['chunk_size']} | {run['counts']['chunks']} | "
            f"{run['seconds']} s | {run['peak_traced_mib']} MiB | "
            f"{'all archived, none hot' if run['correct'] else 'WRONG'} |"
        )
    return "\n".join(lines) + "\n"


def runner_table(results: dict[str, Any]) -> str:
    lines = [
        f"# Code runner benchmark, {results['date']}",
        "",
        f"Machine: {results['machine']}. Runner slots: {results['slots']}. "
        f"Each cell {results['duration_s']:.0f} s, closed loop over loopback, through "
        "`POST /api/v2/piston/execute` (web → Redis → runner → sandbox → Redis → web).",
        "",
        "| program | c | runs/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["cells"]:
        lines.append(
            f"| {row['name']} | {row['concurrency']} | {row['rps']} | {row['p50_ms']} | "
            f"{row['p99_ms']} | {row['errors']} |"
        )
    sat = results["saturation"]
    lines += [
        "",
        f"Saturation (python `print(1)`, c=16): {sat['execute']['rps']} runs/s; the runner used "
        f"{sat['runner_cpu_share']:.0%} of its {sat['runner_slots']} cores, the web process "
        f"{sat['web_cpu_share']:.0%} of the machine, and the whole machine (web, runner, Redis, "
        f"database, load generator) was {sat['machine_cpu_share']:.0%} busy; the web's "
        f"`/api/health` p99 meanwhile: {sat['health']['p99_ms']} ms "
        f"(p50 {sat['health']['p50_ms']} ms).",
        "",
        "Sandbox overhead (p50 of 30, the runner's own process, no queue):",
        "",
        "| program | bare ms | sandbox ms |",
        "|---|---|---|",
    ]
    for name, numbers in results["overhead"].items():
        lines.append(f"| {name} | {numbers['bare_p50_ms']} | {numbers['sandbox_p50_ms']} |")
    return "\n".join(lines) + "\n"
