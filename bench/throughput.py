"""Messages per second with N concurrent senders, as a ratio to bare put_item with N threads.

Powertools' resolver keeps the current event on the app object and buffers metrics per process,
so (as in Lambda) a handler serves one event at a time per process; threads would race on that
state. The senders are therefore threads calling the webhook *service* the handler calls
(``services.webhooks.receive_webhook``, with the handler's own arguments: lowered headers, raw
body, connection directory, ``resolve_secret``, ``utc_now()``, the settings' limits) over one shared
client, as a warm container's code would. The put_item baseline uses a client with the same
config (the product's ``CLIENT_CONFIG``, pool widened to the thread count, for both).

- ``many``: each thread appends to its own conversations (4 per thread, each with an open ticket),
  so no two writes in flight touch the same ticket;
- ``one``: every thread appends to the same conversation (contention on one ticket item: the
  service retries cancelled transactions with jittered backoff).

Each run lasts ``duration`` seconds after a short warm-up; a message counts when its webhook is
stored (a 5xx answer is an error and is reported).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench import stack
from bench.meter import CapacityMeter

CONVERSATIONS_PER_THREAD = 4


def _run(threads: int, duration: float, work: Callable[[int, int], bool]) -> dict[str, Any]:
    """``work(thread, i)`` → stored?  Runs every thread until the deadline; counts outcomes."""
    counts: list[Counter[str]] = [Counter() for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()

    def loop(t: int) -> None:
        barrier.wait()
        i = 0
        while not stop.is_set():
            try:
                counts[t]["ok" if work(t, i) else "failed"] += 1
            except Exception as exc:  # counted, never silently dropped
                counts[t][f"error:{type(exc).__name__}"] += 1
            i += 1

    workers = [threading.Thread(target=loop, args=(t,), daemon=True) for t in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(duration)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start  # includes the calls in flight at the deadline
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    return {
        "ok": total["ok"],
        "failed": sum(v for k, v in total.items() if k != "ok"),
        "failures": {k: v for k, v in total.items() if k != "ok"},
        "seconds": round(elapsed, 3),
        "per_second": round(total["ok"] / elapsed, 1),
    }


def _service_sender(client: Any) -> Callable[[dict[str, Any]], bool]:
    """What ``functions.webhook_ingest.app.receive_webhook`` does, minus Powertools' routing."""
    from ticketing.clock import utc_now
    from ticketing.config import get_settings
    from ticketing.errors import TicketEngineError
    from ticketing.repository.dynamodb import DynamoTicketRepository
    from ticketing.secrets import resolve_secret
    from ticketing.services import webhooks

    settings = get_settings()
    repo = DynamoTicketRepository(client, settings.table_name)
    directory = webhooks.ConnectionDirectory(repo, settings.connection_cache_seconds)

    def send(event: dict[str, Any]) -> bool:
        try:
            report = webhooks.receive_webhook(
                repo=repo,
                connections=directory,
                resolve_secret=resolve_secret,
                channel=event["pathParameters"]["channel"],
                headers=webhooks.lower_headers(event["headers"]),
                raw=event["body"].encode(),
                now=utc_now(),
                max_body_bytes=settings.max_webhook_body_bytes,
                own_app_id=settings.meta_app_id,
            )
        except TicketEngineError:
            return False
        return report.outcomes == {"appended": 1}

    return send


def _workloads(threads: int) -> tuple[Any, dict[str, Callable[[int, int], bool]]]:
    """The client and the three workloads (put_item, many, one) for ``threads`` senders."""
    client = stack.client(max_pool_connections=threads + 8)
    ws = stack.Workspace.create()
    send = _service_sender(client)
    # open tickets: CONVERSATIONS_PER_THREAD per thread, and one shared by all
    spread = [f"psid-{threads}-{c}" for c in range(threads * CONVERSATIONS_PER_THREAD)]
    for psid in [*spread, "psid-shared"]:
        stack.open_ticket(ws, psid)

    def put(t: int, i: int) -> bool:
        client.put_item(
            TableName=stack.TABLE_NAME,
            Item={
                "pk": {"S": f"BENCH#tput#{t}#{i}#{stack.unique('')}"},
                "sk": {"S": "PUT"},
                "text": {"S": stack.TEXT},
            },
        )
        return True

    def many(t: int, i: int) -> bool:
        return send(ws.message(spread[t + threads * (i % CONVERSATIONS_PER_THREAD)]))

    def one(t: int, i: int) -> bool:
        return send(ws.message("psid-shared"))

    return client, {"put_item": put, "many": many, "one": one}


def measure(
    concurrencies: tuple[int, ...], duration: float, warmup: float, progress: Any = print
) -> dict[str, Any]:
    results: dict[str, Any] = {"duration_seconds": duration}
    for threads in concurrencies:
        client, workloads = _workloads(threads)
        row: dict[str, Any] = {}
        for name, work in workloads.items():
            progress(f"  {threads} threads: {name}")
            _run(threads, warmup, work)
            with CapacityMeter(client, capacity=False) as meter:
                row[name] = _run(threads, duration, work)
            row[name]["requests_per_message"] = round(meter.count / max(row[name]["ok"], 1), 2)
            row[name]["cancelled_transactions"] = sum(
                1 for r in meter.requests if r.error == "TransactionCanceledException"
            )
            row[name]["operations"] = dict(Counter(meter.operations))
        base = row["put_item"]["per_second"]
        for name in ("many", "one"):
            row[name]["ratio"] = round(row[name]["per_second"] / base, 3) if base else None
        results[str(threads)] = row
    return results
