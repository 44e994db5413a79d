"""The printed table and the JSON record of a bench run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stack import ROOT_PATH

OK, MISS = "✓", "✗"


def metadata(quick: bool) -> dict[str, Any]:
    import boto3

    from local.dynamodb_local import find_jar

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT_PATH, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "system": platform.system(),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "boto3": boto3.__version__,
        "dynamodb_local": find_jar().parent.name,
        "quick": quick,
    }


def _mark(met: bool | None) -> str:
    return "" if met is None else (OK if met else MISS)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _units(value: float) -> str:
    return f"{value:g}"


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        f"Ticket Engine bench — commit {(meta['commit'] or '?')[:12]}"
        f"{' (uncommitted changes)' if meta['dirty'] else ''}, {meta['date']}",
        f"Python {meta['python']}, {meta['cores']} cores, {meta['dynamodb_local']},"
        f" load average at start {meta['load_average_at_start'][0]}"
        f"{', QUICK run' if meta['quick'] else ''}",
    ]

    if latency := results.get("latency"):
        base = latency["baseline_put_item"]
        out += [
            "",
            f"1. Ingest latency — real webhook handler, in-process; baseline: bare put_item"
            f" median {base['median_ms']:.2f} ms (p99 {base['p99_ms']:.2f} ms),"
            f" {base['samples']} samples each",
        ]
        rows = []
        for key, label in (
            ("append", "append to an open ticket"),
            ("create_new_conversation", "create: new conversation"),
            ("create_existing_conversation", "create: existing conversation"),
        ):
            f = latency[key]
            rows.append(
                [
                    label,
                    f"{f['median_ms']:.2f} ms",
                    f"{f['p99_ms']:.2f} ms",
                    f"{f['median_ratio']:.2f}×",
                    f"{f['p99_ratio']:.2f}×",
                    f"≤ {f['goal_median_ratio']:g}× {_mark(f['goal_met'])}",
                    f"{f['median_in_dynamodb_ms']:.2f} ms",
                    f"{f['median_own_code_ms']:.2f} ms",
                    f"{f['floor_ratio']:.2f}×" if "floor_ratio" in f else "—",
                ]
            )
        out += _table(
            [
                "case",
                "median",
                "p99",
                "median/put",
                "p99/put",
                "goal",
                "in DynamoDB",
                "own code",
                "floor/put",
            ],
            rows,
        )
        if floor := latency.get("floor"):
            out.append(
                f"   floor: {floor['what']} — append {floor['append_ratio']:.2f}×,"
                f" create {floor['create_ratio']:.2f}× of put_item"
            )
        counts = latency.get("requests_timed", {})
        out.append(
            "   median request inside the handler: "
            + ", ".join(
                f"{op} {ms:.2f} ms" + (f" (n={counts[op]})" if op in counts else "")
                for op, ms in latency["median_request_ms"].items()
            )
        )

    if cost := results.get("cost"):
        out += [
            "",
            "2. DynamoDB cost per operation — ReturnConsumedCapacity=INDEXES on DynamoDB Local"
            " (exact), and the same requests priced by AWS's rules (estimate)",
        ]
        rows = []
        for f in cost.values():
            goal, aws = f["goal"], f["aws_estimate"]
            goal_text = ""
            if goal:
                goal_text = f"≤ {goal['max_requests']:g} req"
                if "max_write_units" in goal:
                    goal_text += f", ≤ {goal['max_write_units']:g} WCU"
                goal_text += f" {_mark(goal['met'])}/{_mark(goal['met_aws'])}"
            targets = ", ".join(
                f"{k} {_units(v)}" for k, v in sorted(f["write_by_target"].items()) if v
            )
            rows.append(
                [
                    f["label"] + ("" if f["stable"] else " (VARIES)"),
                    str(f["requests"]),
                    _units(f["read_units"]),
                    _units(f["write_units"]),
                    targets,
                    _units(aws["read_units"]),
                    _units(aws["write_units"]),
                    goal_text,
                ]
            )
        out += _table(
            [
                "operation",
                "requests",
                "RCU",
                "WCU",
                "WCU by table/index",
                "AWS RCU",
                "AWS WCU",
                "goal Local/AWS",
            ],
            rows,
        )
        for name, f in cost.items():
            out.append(
                f"   {name}: "
                + " + ".join(
                    f"{c['operation']}" + (f"[{c['items']}]" if c["items"] > 1 else "")
                    for c in f["calls"]
                )
            )
            goal = f["goal"]
            if goal and not (goal["met"] and goal["met_aws"]):
                out += [f"      {line}" for line in f["aws_estimate"]["writes"]]

    if throughput := results.get("throughput"):
        out += [
            "",
            f"3. Throughput — messages/s, {throughput['duration_seconds']:g} s per run;"
            " webhook service in threads over one client",
        ]
        rows = []
        for threads, row in throughput.items():
            if threads == "duration_seconds":
                continue
            base = row["put_item"]
            for name, label in (("many", "many conversations"), ("one", "one conversation")):
                f = row[name]
                rows.append(
                    [
                        f"{threads} threads, {label}",
                        f"{f['per_second']:.0f}/s",
                        f"{base['per_second']:.0f}/s",
                        f"{f['ratio']:.3f}×",
                        f"{f['requests_per_message']:g}",
                        str(f["cancelled_transactions"]),
                        str(f["failed"]),
                    ]
                )
        out += _table(
            ["senders", "stored", "put_item", "ratio", "req/msg", "cancelled tx", "5xx"], rows
        )

    if cold := results.get("cold_start"):
        out += [
            "",
            f"4. Cold start — python -X importtime, median of {cold['runs']} fresh interpreters;"
            f" import boto3 alone: {cold['boto3']['median_ms']:.0f} ms",
        ]
        rows = []
        names = ["webhook_ingest", "ticket_api", *cold.get("other_functions", [])]
        for name in names:
            f = cold[name]
            heaviest = ", ".join(
                f"{k} {v:.0f}" for k, v in list(f["largest_packages_ms"].items())[:5]
            )
            first = (
                f"{f['first_request_ms']:.0f} ms {f['first_request_ratio']:.2f}×"
                if "first_request_ms" in f
                else ""
            )
            rows.append(
                [
                    f"functions.{name}.app",
                    f"{f['median_ms']:.0f} ms",
                    f"{f['ratio']:.2f}×",
                    f"{f['ratio_of_minimums']:.2f}×",
                    f"{f['cpu_ratio']:.2f}×",
                    f"≤ {cold['goal_ratio']:g}× {_mark(f['goal_met'])}",
                    first,
                    heaviest,
                ]
            )
        out += _table(
            [
                "handler module",
                "import",
                "/boto3",
                "fastest",
                "CPU",
                "goal",
                "+ first request",
                "own ms by package",
            ],
            rows,
        )
        out.append(
            "   /boto3 = median ratio (the goal); fastest = ratio of the fastest runs;"
            " CPU = ratio of CPU time beyond an empty interpreter"
            f" (boto3: {cold['boto3']['median_cpu_ms']:.0f} ms CPU)"
        )
        for name in names:
            f = cold[name]
            if "first_request_ms" not in f:
                continue
            heaviest = ", ".join(
                f"{k} {v:.0f}" for k, v in list(f["first_request_largest_packages_ms"].items())[:5]
            )
            out.append(
                f"   + first request ({name}): the import plus the modules its first request"
                f" imports ({f['first_request_imports_ms']:.0f} ms: {heaviest}), /boto3;"
                f" first invocation {f['first_invocation_ms']:.0f} ms wall"
            )

    if scale := results.get("scale"):
        out += [
            "",
            f"5. Scale — inbox page of 25 (GET /tickets?status=open) with"
            f" {scale['small_tickets']:,} vs {scale['large_tickets']:,} open tickets"
            f" (seeded in {scale['seed_seconds']:g} s)",
        ]
        rows = []
        for key in ("small", "large"):
            f = scale[key]
            rows.append(
                [
                    f"{scale[key + '_tickets']:,} tickets",
                    str(f["requests"]),
                    _units(f["read_units"]),
                    f"{f['median_ms']:.2f} ms",
                    f"{f['p99_ms']:.2f} ms",
                ]
            )
        out += _table(["workspace", "requests", "RCU", "median", "p99"], rows)
        out.append(
            f"   capacity equal: {_mark(scale['capacity_equal'])}; latency ratio"
            f" {scale['median_ratio']:.2f}× (large/small)"
            + (f"; {scale['seed_note']}" if scale["seed_note"] else "")
        )
        if auto := scale.get("auto_close"):
            out.append(
                f"   auto-close pass ({auto['due']} due tickets in each workspace): "
                + "; ".join(
                    f"{scale[k + '_tickets']:,} tickets → {auto[k]['requests']} requests,"
                    f" {_units(auto[k]['read_units'])} RCU, {_units(auto[k]['write_units'])} WCU,"
                    f" {auto[k]['closed']} closed"
                    for k in ("small", "large")
                )
                + f"; capacity equal: {_mark(auto['capacity_equal'])}"
            )
    if load := results.get("load"):
        out += [
            "",
            f"6. Load — local HTTP API (local.server) on {load['host']}, {load['threads']} client"
            f" threads for {load['duration_seconds']:g} s; {load['mix']['webhook']:.0%} signed"
            f" webhooks ({load['customers']} customers), {load['mix']['list']:.0%} GET /tickets",
        ]
        rows = []
        for key, label in (
            ("webhook", "POST /webhooks/messenger"),
            ("list", "GET /tickets?status=open"),
            ("all", "all"),
        ):
            f = load[key]
            rows.append(
                [
                    label,
                    str(f["requests"]),
                    f"{f['per_second']:.1f}/s",
                    str(f["errors"]),
                    f"{f['error_rate']:.2%}" if f["error_rate"] is not None else "-",
                    f"{f['p50_ms']:.2f} ms" if f["p50_ms"] is not None else "-",
                    f"{f['p99_ms']:.2f} ms" if f["p99_ms"] is not None else "-",
                ]
            )
        out += _table(["requests", "count", "rate", "errors", "error rate", "p50", "p99"], rows)
        codes = ", ".join(
            f"{'transport error' if code == '0' else code} ×{n}"
            for code, n in load["status_codes"].items()
        )
        out.append(
            f"   status codes: {codes}; webhooks answered 200: {load['webhooks_acknowledged']},"
            f" messages stored: {load['messages_stored']}"
            f" {_mark(load['lost_or_duplicated'] == 0)}"
        )
        base = load["baselines"]
        out.append(
            f"   sequential medians: the server's own 404 (no handler)"
            f" {base['http_404_median_ms']:.2f} ms, a bare DynamoDB GetItem"
            f" {base['dynamodb_get_item_median_ms']:.2f} ms"
        )
    return "\n".join(out)


def write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
