"""python -m bench [--quick] [--only latency,cost,...] [--output PATH] [--show JSON]

Starts its own DynamoDB Local, creates the table from template.yaml, measures, prints a table and
writes the figures as JSON (bench/results/latest.json; a --quick run writes quick.json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench import report, stack

SECTIONS = ("latency", "cost", "throughput", "cold_start", "scale", "load")
RESULTS = stack.ROOT_PATH / "bench" / "results"
DESCRIPTION = (
    "Ticket Engine's speed and DynamoDB cost against its own DynamoDB Local: prints a table and"
    " writes bench/results/latest.json (bench/README.md explains every figure)."
)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter runs")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {', '.join(SECTIONS)})",
    )
    parser.add_argument("--output", type=Path, help="JSON file to write")
    parser.add_argument(
        "--show", type=Path, metavar="JSON", help="print the table of an earlier run and exit"
    )
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(args.only) - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.output is None:
        args.output = RESULTS / ("quick.json" if args.quick else "latest.json")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    results: dict[str, Any] = {"meta": report.metadata(quick)}
    began = time.perf_counter()
    # the handlers print their EMF metrics to stdout, as in Lambda: keep them off the table
    with (
        stack.local_stack() as env,
        open(os.devnull, "w") as null,
        contextlib.redirect_stdout(null),
    ):
        if "cold_start" in args.only:
            from bench import coldstart

            progress("4. cold start")
            results["cold_start"] = coldstart.measure(
                env, runs=5 if quick else 9, progress=progress
            )
        if "cost" in args.only:
            from bench import cost

            progress("2. DynamoDB cost per operation")
            results["cost"] = cost.measure(repeats=2 if quick else 3, progress=progress)
        if "latency" in args.only:
            from bench import latency

            progress("1. ingest latency")
            results["latency"] = latency.measure(
                samples=60 if quick else 300, warmup=10 if quick else 30, progress=progress
            )
        if "throughput" in args.only:
            from bench import throughput

            progress("3. throughput")
            results["throughput"] = throughput.measure(
                (8, 32),
                duration=1.0 if quick else 3.0,
                warmup=0.3 if quick else 0.5,
                progress=progress,
            )
        if "scale" in args.only:
            from bench import scale

            progress("5. scale")
            results["scale"] = scale.measure(
                samples=30 if quick else 100,
                warmup=5 if quick else 10,
                seed_budget=240.0,
                large=1_000 if quick else None,
                progress=progress,
            )
        if "load" in args.only:
            from bench import load

            progress("6. load through the local HTTP API")
            results["load"] = load.measure(duration=3.0 if quick else 10.0, progress=progress)
    results["meta"]["seconds"] = round(time.perf_counter() - began, 1)
    results["meta"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.show:
        print(report.render(json.loads(args.show.read_text())))
        return 0
    results = run(args)
    print(report.render(results))
    report.write(results, args.output)
    print(f"\nwritten to {args.output} ({results['meta']['seconds']:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
