"""Cold start: import time of each handler module, as a ratio to ``import boto3`` alone.

Each figure is ``python -X importtime -c "<marker>; import X"`` in a fresh interpreter (the
handlers' environment set, PYTHONPATH=.:layers/ticketing, bytecode already compiled by a first
unmeasured run): the sum of the cumulative times of the top-level imports after the marker, so
the interpreter's own start-up imports (site, encodings) are left out. Median of ``runs``; the
three targets are run in turn, so noise falls on all alike. The ratio of the fastest runs is
given too, and a CPU-time ratio: each interpreter's user+sys CPU (``getrusage`` of the child)
minus that of an interpreter importing nothing, which waiting for a busy CPU does not inflate.
The heaviest packages of each handler (their modules' own import times) show where the time goes.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from collections import defaultdict
from typing import Any

from bench.stack import ROOT_PATH
from bench.stats import median

TARGETS = {
    "boto3": "boto3",
    "webhook_ingest": "functions.webhook_ingest.app",
    "ticket_api": "functions.ticket_api.app",
}
GOAL_RATIO = 1.5
MARKER = "bench-importtime-marker"
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)\s*$")


def parse_importtime(stderr: str) -> tuple[int, dict[str, int]]:
    """(total µs, {package: self µs}) of the imports after the marker. The total sums the
    cumulative times of the top-level imports (one space of indent); the breakdown sums each
    module's own time by its top-level package (botocore, pydantic, ticketing, ...)."""
    lines = stderr.splitlines()
    if MARKER in stderr:
        lines = lines[next(i for i, line in enumerate(lines) if MARKER in line) + 1 :]
    total = 0
    packages: dict[str, int] = defaultdict(int)
    for line in lines:
        match = _LINE.match(line)
        if match is None:
            continue
        own, cumulative, indent, name = int(match[1]), int(match[2]), len(match[3]), match[4]
        if indent == 1:
            total += cumulative
        packages[name.split(".")[0]] += own
    return total, dict(packages)


def _once(module: str | None, env: dict[str, str]) -> tuple[int, dict[str, int], float]:
    """(import µs, {package: own µs}, CPU seconds of the whole interpreter) of one fresh run."""
    code = f"import sys; sys.stderr.write('{MARKER}\\n')" + (f"; import {module}" if module else "")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        cwd=ROOT_PATH,
        capture_output=True,
        text=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"import {module} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    total, packages = parse_importtime(done.stderr)
    return total, packages, cpu


def measure(handler_env: dict[str, str], runs: int, progress: Any = print) -> dict[str, Any]:
    env = {
        **os.environ,
        **handler_env,
        "PYTHONPATH": f"{ROOT_PATH}:{ROOT_PATH / 'layers' / 'ticketing'}",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for module in TARGETS.values():  # compile bytecode, warm the page cache
        _once(module, env)
    totals: dict[str, list[int]] = {name: [] for name in TARGETS}
    parts: dict[str, list[dict[str, int]]] = {name: [] for name in TARGETS}
    cpu: dict[str, list[float]] = {name: [] for name in [*TARGETS, "nothing"]}
    progress(f"  {runs} runs of each import")
    for _ in range(runs):
        for name, module in TARGETS.items():
            total, breakdown, seconds = _once(module, env)
            totals[name].append(total)
            parts[name].append(breakdown)
            cpu[name].append(seconds)
        cpu["nothing"].append(_once(None, env)[2])
    base, base_min = median(totals["boto3"]), min(totals["boto3"])
    startup = median(cpu["nothing"])
    base_cpu = median(cpu["boto3"]) - startup
    result: dict[str, Any] = {
        "runs": runs,
        "goal_ratio": GOAL_RATIO,
        "interpreter_cpu_ms": round(startup * 1000, 1),
    }
    for name in TARGETS:
        figures: dict[str, Any] = {
            "median_ms": round(median(totals[name]) / 1000, 1),
            "min_ms": round(min(totals[name]) / 1000, 1),
            "median_cpu_ms": round((median(cpu[name]) - startup) * 1000, 1),
        }
        if name != "boto3":
            figures["ratio"] = round(median(totals[name]) / base, 2)
            figures["ratio_of_minimums"] = round(min(totals[name]) / base_min, 2)
            figures["cpu_ratio"] = round((median(cpu[name]) - startup) / base_cpu, 2)
            figures["goal_met"] = figures["ratio"] <= GOAL_RATIO
            figures["largest_packages_ms"] = _largest(parts[name])
        result[name] = figures
    return result


def _largest(runs: list[dict[str, int]], top: int = 8) -> dict[str, float]:
    """Median ms of the heaviest packages (their modules' own import times summed)."""
    names = {name for run in runs for name in run}
    medians = {name: median([run.get(name, 0) for run in runs]) / 1000 for name in names}
    heaviest = sorted(medians.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return {name: round(ms, 1) for name, ms in heaviest}
