"""Scale: an inbox page (25 open tickets) in a workspace of 100 tickets vs one of many more.

The large workspace is seeded with BatchWriteItem (25 items a request, a few threads) with ticket
items built by the repository's own item builder (``DynamoTicketRepository._ticket_item``), all
*open* — the worst case for the inbox, whose list (the ``open`` view's gsi1 partition
``WS#ws#VIEW#open``) then holds them all — each with its entry in that list, built by the view
projector's own builder (``repository.views.view_entries``). Their entries in the other views
(unassigned, channel) live in other partitions, which neither measurement reads, and are left out
to halve the seeding time. It aims at 100,000 tickets, and goes past 10,000 only when the first
10,000 took under a tenth of ``seed_budget`` seconds (100,000 would then seed within the budget);
otherwise it says so and stays at 10,000. Both pages are read through the real ticket API handler
(``GET /tickets?status=open&limit=25``), interleaved; one read of each is metered.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import stack
from bench.meter import CapacityMeter
from bench.stats import median, summary

SMALL = 100
FIRST_STEP = 10_000
TARGET = 100_000
SEED_THREADS = 4
T0 = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)


def _ticket_items(ws: stack.Workspace, start: int, count: int) -> list[dict[str, Any]]:
    from ticketing.models.records import Assignee, Channel, Ticket, TicketStatus
    from ticketing.repository.dynamodb import get_repository
    from ticketing.repository.views import view_entries
    from ticketing.services.ingest import conversation_id_for
    from ticketing.views import status_view

    repo = get_repository()
    items = []
    for n in range(start, start + count):
        at = T0 + timedelta(seconds=n)
        psid = f"psid-{n}"
        ticket = Ticket(
            workspace_id=ws.workspace_id,
            ticket_id=f"t_seed{n:020d}",
            number=n + 1,
            conversation_id=conversation_id_for("messenger", ws.page_id, psid),
            contact_id=f"ct_seed{n:020d}",
            channel=Channel.MESSENGER,
            account_id=ws.page_id,
            status=TicketStatus.OPEN,
            assignee=Assignee(),
            created_at=at,
            last_activity_at=at,
            messages_in=1,
        )
        item = repo._ticket_item(ticket)
        items += [item, view_entries(item, "0")[status_view(TicketStatus.OPEN)]]
    return items


def _seed(client: Any, ws: stack.Workspace, start: int, count: int) -> float:
    """Write ``count`` tickets; seconds taken (building the items included)."""
    began = time.perf_counter()
    items = _ticket_items(ws, start, count)
    batches = [items[i : i + 25] for i in range(0, len(items), 25)]

    def write(batch: list[dict[str, Any]]) -> None:
        request = {stack.TABLE_NAME: [{"PutRequest": {"Item": item}} for item in batch]}
        for attempt in range(10):
            response = client.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or {}
            if not request:
                return
            time.sleep(0.01 * 2**attempt)
        raise RuntimeError("BatchWriteItem kept returning unprocessed items")

    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(write, batches))
    return time.perf_counter() - began


def measure(
    samples: int, warmup: int, seed_budget: float, large: int | None, progress: Any = print
) -> dict[str, Any]:
    client = stack.client(max_pool_connections=SEED_THREADS + 2)
    small_ws, large_ws = stack.Workspace.create(), stack.Workspace.create()

    # GIVEN a workspace of 100 open tickets and one of 10,000 (100,000 if seeding is fast enough)
    _seed(client, small_ws, 0, SMALL)
    seeded, seconds = 0, 0.0
    note = ""
    if large is not None:  # a fixed size (--quick)
        seconds = _seed(client, large_ws, 0, large)
        seeded = large
    else:
        progress(f"  seeding {FIRST_STEP:,} tickets")
        seconds = _seed(client, large_ws, 0, FIRST_STEP)
        seeded = FIRST_STEP
        projected = seconds * TARGET / FIRST_STEP
        if projected < seed_budget:
            progress(f"  seeding up to {TARGET:,} tickets (projected {projected:.0f} s)")
            seconds += _seed(client, large_ws, FIRST_STEP, TARGET - FIRST_STEP)
            seeded = TARGET
        else:
            note = (
                f"stopped at {FIRST_STEP:,}: seeding {TARGET:,} would take ~{projected:.0f} s"
                f" (budget {seed_budget:.0f} s)"
            )
            progress(f"  {note}")

    events = {
        name: stack.api_get(ws, "/tickets", "/tickets", query={"status": "open", "limit": "25"})
        for name, ws in (("small", small_ws), ("large", large_ws))
    }

    # WHEN each page is read (one metered read, then timed reads in turn)
    costs: dict[str, Any] = {}
    for name, event in events.items():
        from ticketing.repository.dynamodb import dynamodb_client

        with CapacityMeter(dynamodb_client()) as meter:
            stack.call_api(event)
        costs[name] = {
            "requests": meter.count,
            "read_units": meter.read_units,
            "by_target": meter.by_target(),
        }
    timings: dict[str, list[float]] = {"small": [], "large": []}
    for i in range(samples + warmup):
        for name in ("small", "large") if i % 2 else ("large", "small"):
            start = time.perf_counter_ns()
            stack.call_api(events[name])
            if i >= warmup:
                timings[name].append((time.perf_counter_ns() - start) / 1e6)

    auto_close = {
        name: _auto_close(client, ws) for name, ws in (("small", small_ws), ("large", large_ws))
    }

    # THEN the cost is the same, and the latency ratio is about 1
    return {
        "small_tickets": SMALL,
        "large_tickets": seeded,
        "seed_seconds": round(seconds, 1),
        "seed_note": note,
        "small": {**costs["small"], **summary(timings["small"])},
        "large": {**costs["large"], **summary(timings["large"])},
        "capacity_equal": costs["small"] == costs["large"],
        "median_ratio": round(median(timings["large"]) / median(timings["small"]), 2),
        "auto_close": {
            **auto_close,
            "due": AUTO_CLOSE_DUE,
            "capacity_equal": auto_close["small"] == auto_close["large"],
        },
    }


AUTO_CLOSE_DUE = 10  # seeded tickets whose activity is before the run's cutoff, in each workspace


def _auto_close(client: Any, ws: stack.Workspace) -> dict[str, Any]:
    """One auto-close pass over a workspace (what the scheduled run does per workspace: the due
    Query, then each guarded close), with the first ``AUTO_CLOSE_DUE`` seeded tickets due; metered.
    Their conversation guards are seeded first (the close moves them)."""
    from ticketing.models.records import Channel, Conversation, TicketStatus
    from ticketing.repository.auto_close import AutoCloseStore
    from ticketing.repository.dynamodb import dynamodb_client, get_repository
    from ticketing.services.auto_close import history_for
    from ticketing.services.ingest import conversation_id_for

    repo = get_repository()
    conversations = [
        repo._conversation_item(
            Conversation(
                workspace_id=ws.workspace_id,
                conversation_id=conversation_id_for("messenger", ws.page_id, f"psid-{n}"),
                contact_id=f"ct_seed{n:020d}",
                channel=Channel.MESSENGER,
                account_id=ws.page_id,
                customer_id=f"psid-{n}",
                created_at=T0,
                open_ticket_id=f"t_seed{n:020d}",
                latest_ticket_id=f"t_seed{n:020d}",
                latest_ticket_status=TicketStatus.OPEN,
            )
        )
        for n in range(AUTO_CLOSE_DUE)
    ]
    client.batch_write_item(
        RequestItems={stack.TABLE_NAME: [{"PutRequest": {"Item": c}} for c in conversations]}
    )
    store = AutoCloseStore(repo)
    now = datetime.now(UTC)
    cutoff = T0 + timedelta(seconds=AUTO_CLOSE_DUE)  # seeded activity: T0 + n seconds
    closed = 0
    with CapacityMeter(dynamodb_client()) as meter:
        page = store.due_tickets(ws.workspace_id, cutoff, limit=50, start_key=None)
        for due in page.tickets:
            store.close(due, history=history_for(due, now), now=now)
            closed += 1
    return {
        "closed": closed,
        "requests": meter.count,
        "read_units": meter.read_units,
        "write_units": meter.write_units,
        "by_target": meter.by_target(),
    }
