"""Cold start: import time of each handler module, as a ratio to ``import boto3`` alone.

Each figure is ``python -X importtime -c "<marker>; import X"`` in a fresh interpreter (the
handlers' environment set, PYTHONPATH=.:layers/ticketing, bytecode already compiled by a first
unmeasured run): the sum of the cumulative times of the top-level imports after the marker, so
the interpreter's own start-up (site, encodings) is left out. Median of ``runs``; the
targets are run in turn, so noise falls on all alike. The ratio of the fastest runs is
given too, and a CPU-time ratio: each interpreter's user+sys CPU (``getrusage`` of the child)
minus that of an interpreter importing nothing, which waiting for a busy CPU does not inflate.
The heaviest packages of each handler (their modules' own import times) show where the time goes.

The handlers import what a request needs on first use, so the module import is not the whole cold
start. **First request** (the two headline handlers, when DynamoDB Local is up): a fresh
interpreter imports the handler, then calls its ``lambda_handler`` once with a real request — a
signed Messenger webhook of a new customer (creates a ticket), ``GET /tickets?status=open`` —
and the figure sums the import time of both: the handler's import plus every module the first
request imported (models, services, repository, channel adapter, validating resolver). The wall
time of that first invocation (imports, the DynamoDB client's creation, the round trips to
DynamoDB Local) is kept in the JSON as ``first_invocation_ms``.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bench.stack import ROOT_PATH
from bench.stats import median

TARGETS = {
    "boto3": "boto3",
    "webhook_ingest": "functions.webhook_ingest.app",
    "ticket_api": "functions.ticket_api.app",
}
# the other functions: the same measure, listed under the headline figures
OTHER_TARGETS = {
    name: f"functions.{name}.app"
    for name in (
        "comments_api",
        "connections_api",
        "reviews_api",
        "outbox_sender",
        "auto_close",
        "ticket_views",
        "ticket_analytics",
        "reviews_pull",
    )
}
FIRST_REQUEST = ("webhook_ingest", "ticket_api")
GOAL_RATIO = 1.5
MARKER = "bench-importtime-marker"
REQUEST_MARKER = "bench-first-request-marker"
_INVOCATION = re.compile(r"^bench-first-invocation-seconds (\S+)$", re.MULTILINE)
# A Lambda context with no imports (the child must import nothing before the handler)
_CONTEXT = (
    "class Context:\n"
    "    function_name = 'bench'\n"
    "    memory_limit_in_mb = 512\n"
    "    invoked_function_arn = 'arn:aws:lambda:us-east-1:123456789012:function:bench'\n"
    "    aws_request_id = 'bench-request'\n"
    "    def get_remaining_time_in_millis(self):\n"
    "        return 10_000\n"
)
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)\s*$")


def parse_importtime(stderr: str, marker: str = MARKER) -> tuple[int, dict[str, int]]:
    """(total µs, {package: self µs}) of the imports after the marker. The total sums the
    cumulative times of the top-level imports (one space of indent); the breakdown sums each
    module's own time by its top-level package (botocore, pydantic, ticketing, ...)."""
    lines = stderr.splitlines()
    if marker in stderr:
        lines = lines[next(i for i, line in enumerate(lines) if marker in line) + 1 :]
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


def _first_request(
    module: str, event: dict[str, Any], env: dict[str, str]
) -> tuple[int, int, float, dict[str, int]]:
    """(import µs, µs of the modules the first request imported, wall seconds of that first
    invocation, {package: own µs of those modules}) in one fresh interpreter."""
    code = (
        f"{_CONTEXT}import sys; sys.stderr.write('{MARKER}\\n')\n"
        f"import {module} as handler\n"
        f"sys.stderr.write('{REQUEST_MARKER}\\n')\n"
        "from time import perf_counter\n"  # already loaded by the handler's imports
        "began = perf_counter()\n"
        f"response = handler.lambda_handler({event!r}, Context())\n"
        "seconds = perf_counter() - began\n"
        "assert response['statusCode'] == 200, response\n"
        "sys.stderr.write(f'bench-first-invocation-seconds {seconds}\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        cwd=ROOT_PATH,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"first request of {module} failed:\n{done.stderr[-2000:]}")
    request_part = done.stderr[done.stderr.index(REQUEST_MARKER) :]
    imported, _ = parse_importtime(done.stderr[: done.stderr.index(REQUEST_MARKER)])
    on_request, packages = parse_importtime(request_part, REQUEST_MARKER)
    invocation = _INVOCATION.search(done.stderr)
    assert invocation is not None
    return imported, on_request, float(invocation[1]), packages


def _first_request_events() -> dict[str, Callable[[], dict[str, Any]]]:
    """Each headline handler's first request, in a workspace of its own (DynamoDB Local)."""
    from bench import stack

    ws = stack.Workspace.create()
    return {
        "webhook_ingest": lambda: ws.message(stack.unique("psid-cold-")),
        "ticket_api": lambda: stack.api_get(
            ws, "/tickets", "/tickets", query={"status": "open", "limit": "25"}
        ),
    }


def measure(
    handler_env: dict[str, str],
    runs: int,
    progress: Any = print,
    *,
    first_request: bool = True,
) -> dict[str, Any]:
    """``first_request`` needs the handlers' DynamoDB (bench.stack.local_stack)."""
    env = {
        **os.environ,
        **handler_env,
        "PYTHONPATH": f"{ROOT_PATH}:{ROOT_PATH / 'layers' / 'ticketing'}",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    targets = {**TARGETS, **OTHER_TARGETS}
    events = _first_request_events() if first_request else {}
    for module in targets.values():  # compile bytecode, warm the page cache
        _once(module, env)
    for name, event in events.items():  # ... and the modules of the first request
        _first_request(TARGETS[name], event(), env)
    totals: dict[str, list[int]] = {name: [] for name in targets}
    parts: dict[str, list[dict[str, int]]] = {name: [] for name in targets}
    cpu: dict[str, list[float]] = {name: [] for name in [*targets, "nothing"]}
    firsts: dict[str, list[tuple[int, int, float, dict[str, int]]]] = {name: [] for name in events}
    progress(f"  {runs} runs of each import" + (" and first request" if events else ""))
    for _ in range(runs):
        for name, module in targets.items():
            total, breakdown, seconds = _once(module, env)
            totals[name].append(total)
            parts[name].append(breakdown)
            cpu[name].append(seconds)
        cpu["nothing"].append(_once(None, env)[2])
        for name, event in events.items():
            firsts[name].append(_first_request(TARGETS[name], event(), env))
    base, base_min = median(totals["boto3"]), min(totals["boto3"])
    startup = median(cpu["nothing"])
    base_cpu = median(cpu["boto3"]) - startup
    result: dict[str, Any] = {
        "runs": runs,
        "goal_ratio": GOAL_RATIO,
        "interpreter_cpu_ms": round(startup * 1000, 1),
    }
    for name in targets:
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
        if firsts.get(name):
            # import + the first request's imports, summed per run (one interpreter each)
            first = [imported + on_request for imported, on_request, _, _ in firsts[name]]
            figures["first_request_ms"] = round(median(first) / 1000, 1)
            figures["first_request_ratio"] = round(median(first) / base, 2)
            figures["first_request_imports_ms"] = round(
                median([on_request for _, on_request, _, _ in firsts[name]]) / 1000, 1
            )
            figures["first_request_largest_packages_ms"] = _largest(
                [packages for _, _, _, packages in firsts[name]]
            )
            figures["first_invocation_ms"] = round(
                median([seconds for _, _, seconds, _ in firsts[name]]) * 1000, 1
            )
        result[name] = figures
    result["other_functions"] = list(OTHER_TARGETS)
    return result


def _largest(runs: list[dict[str, int]], top: int = 8) -> dict[str, float]:
    """Median ms of the heaviest packages (their modules' own import times summed)."""
    names = {name for run in runs for name in run}
    medians = {name: median([run.get(name, 0) for run in runs]) / 1000 for name in names}
    heaviest = sorted(medians.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return {name: round(ms, 1) for name, ms in heaviest}
