"""A bounded load test through the local HTTP API, on loopback only.

``local.server.serve`` (the stand-in for API Gateway that ``make run`` uses) is started in this
process on a free port of 127.0.0.1, on the bench's own DynamoDB Local and environment. ``threads``
client threads, each with its own keep-alive ``http.client`` connection, send for ``duration``
seconds (then stop by themselves):

- 80 %: a signed Messenger webhook (``POST /webhooks/messenger``) with one customer message from
  one of 200 customers of a bench workspace (a new customer creates a ticket, a known one appends);
- 20 %: ``GET /tickets?status=open&limit=25`` with a token from ``local.auth.mint_token`` (the
  local Cognito stand-in) for that workspace.

Reported: requests per second, the error rate (any answer other than 2xx, and transport errors),
latency p50/p99 per kind and overall, the status codes, and a consistency check: the messages
stored in the workspace (the tickets' ``messages_in``) against the webhooks answered 200.

While it runs, a thread does the view projector's work (``local.streams.ViewFollower``, from the
run's start: every ticket record the run writes is applied to the inbox lists, as the stream's
consumer does in AWS), so ``GET /tickets`` reads lists that follow the tickets; before counting,
the list is brought up to date once more. (The server's own event plumbing, as ``make run`` starts
it, would first replay the stream's backlog of the earlier sections: hundreds of thousands of
records.) The local server runs each function like one Lambda instance (one event at a time per
function), so webhooks are handled one after another, concurrently with the API: the figure is the
local stack's capacity on this machine, not a Lambda fleet's. Events are built and signed before
the clock starts; a warm-up request of each kind imports the handlers first.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench import stack
from bench.stats import percentile

HOST = "127.0.0.1"  # loopback only
CUSTOMERS = 200
WEBHOOK_SHARE = 0.8
PAGE = "/tickets?status=open&limit=25"


@dataclass
class Sample:
    kind: str
    status: int  # 0: transport error
    ms: float


@dataclass
class Client:
    """One client thread's connection and what it saw."""

    port: int
    samples: list[Sample] = field(default_factory=list)
    connection: http.client.HTTPConnection | None = None

    def request(self, kind: str, method: str, path: str, body: bytes | None, headers: Any) -> None:
        began = time.perf_counter()
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            self.close()
        self.samples.append(Sample(kind, status, (time.perf_counter() - began) * 1000))

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _stats(samples: list[Sample], seconds: float) -> dict[str, Any]:
    times = [s.ms for s in samples]
    errors = sum(1 for s in samples if not 200 <= s.status < 300)
    return {
        "requests": len(samples),
        "per_second": round(len(samples) / seconds, 1),
        "errors": errors,
        "error_rate": round(errors / len(samples), 4) if samples else None,
        "p50_ms": round(percentile(times, 50), 2) if times else None,
        "p99_ms": round(percentile(times, 99), 2) if times else None,
    }


def _stored_messages(workspace_id: str, follower: Any) -> int:
    """Messages stored in the workspace: the sum of its tickets' counters (all open here), read
    from the open list once the view projector has caught up with every ticket written."""
    from ticketing.models import TicketStatus
    from ticketing.repository.dynamodb import get_repository

    follower.catch_up()
    repo = get_repository()
    total, cursor = 0, None
    while True:
        page = repo.list_tickets(workspace_id, TicketStatus.OPEN, 100, cursor)
        total += sum(t.messages_in for t in page.items)
        if (cursor := page.next_cursor) is None:
            return total


def _follow(follower: Any, stop: threading.Event) -> None:
    """The view projector's work during the run: the lists follow the tickets."""
    while not stop.is_set():
        follower.catch_up()
        stop.wait(0.2)


def _baselines(port: int, rounds: int = 30) -> dict[str, float]:
    """Medians, sequential: an unknown route (the server's own 404, no handler: its HTTP
    overhead) and a bare DynamoDB GetItem with the product's client config."""
    client = Client(port)
    for _ in range(rounds):
        client.request("floor", "GET", "/_bench/unknown-route", None, {})
    client.close()
    dynamodb = stack.client()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        dynamodb.get_item(
            TableName=stack.TABLE_NAME, Key={"pk": {"S": "BENCH#none"}, "sk": {"S": "NONE"}}
        )
        times.append((time.perf_counter() - began) * 1000)
    return {
        "http_404_median_ms": round(percentile([s.ms for s in client.samples], 50), 2),
        "dynamodb_get_item_median_ms": round(percentile(times, 50), 2),
    }


Request = tuple[str, str, str, bytes | None, Any]


def _plans(ws: stack.Workspace, headers: Any, threads: int, size: int) -> list[list[Request]]:
    """Each thread's requests, built and signed before the clock starts."""
    customers = [f"psid-load-{i}" for i in range(CUSTOMERS)]
    plans: list[list[Request]] = []
    for t in range(threads):
        rng = random.Random(t)
        plan: list[Request] = []
        for _ in range(size):
            if rng.random() < WEBHOOK_SHARE:
                event = ws.message(rng.choice(customers))
                body = event["body"].encode()
                plan.append(("webhook", "POST", "/webhooks/messenger", body, event["headers"]))
            else:
                plan.append(("list", "GET", PAGE, None, headers))
        plans.append(plan)
    return plans


def measure(duration: float, threads: int = 8, progress: Any = print) -> dict[str, Any]:
    from local.auth import mint_token
    from local.server import serve
    from local.streams import ViewFollower
    from local.template import load_template

    follower = ViewFollower(stack.client(), stack.TABLE_NAME)  # for the final count
    ws = stack.Workspace.create()
    token = mint_token("agent-bench", ws.workspace_id)
    api_headers = {"Authorization": f"Bearer {token}"}
    plans = _plans(ws, api_headers, threads, size=int(200 * duration))
    clients = [Client(0) for _ in range(threads)]
    progress(f"  {threads} client threads for {duration:g} s on the local API (127.0.0.1)")
    # the server logs every request to stderr (BaseHTTPRequestHandler): keep it off the table
    with contextlib.redirect_stderr(io.StringIO()):
        server, _ = serve(0, template=load_template(), host=HOST)
        following = threading.Event()
        projector = threading.Thread(target=_follow, args=(follower, following), daemon=True)
        projector.start()
        port = int(server.server_address[1])
        try:
            # warm-up: the first call of each function imports its handler (a cold start)
            warm = Client(port)
            event = ws.message("psid-load-warm")
            body = event["body"].encode()
            warm.request("webhook", "POST", "/webhooks/messenger", body, event["headers"])
            warm.request("list", "GET", PAGE, None, api_headers)
            warm.close()
            if any(s.status != 200 for s in warm.samples):
                raise RuntimeError(f"warm-up: {[(s.kind, s.status) for s in warm.samples]}")
            baselines = _baselines(port)

            for client in clients:
                client.port = port
            start = threading.Barrier(threads + 1)
            deadline = 0.0

            def run(client: Client, plan: list[Request]) -> None:
                start.wait()
                for request in plan:
                    if time.perf_counter() >= deadline:
                        break
                    client.request(*request)
                client.close()

            workers = [
                threading.Thread(target=run, args=(c, p), daemon=True)
                for c, p in zip(clients, plans, strict=True)
            ]
            for worker in workers:
                worker.start()
            began = time.perf_counter()
            deadline = began + duration
            start.wait()
            for worker in workers:
                worker.join(timeout=duration + 60)
            seconds = time.perf_counter() - began  # includes the requests in flight at the end
        finally:
            following.set()
            projector.join(timeout=60)
            server.shutdown()
            server.server_close()

    samples = [s for c in clients for s in c.samples]
    if any(len(c.samples) == len(p) for c, p in zip(clients, plans, strict=True)):
        raise RuntimeError("a client thread ran out of requests before the deadline")
    acknowledged = 1 + sum(1 for s in samples if s.kind == "webhook" and s.status == 200)
    stored = _stored_messages(ws.workspace_id, follower)
    return {
        "duration_seconds": duration,
        "seconds": round(seconds, 3),
        "threads": threads,
        "host": HOST,
        "mix": {"webhook": WEBHOOK_SHARE, "list": round(1 - WEBHOOK_SHARE, 2)},
        "customers": CUSTOMERS,
        "all": _stats(samples, seconds),
        "webhook": _stats([s for s in samples if s.kind == "webhook"], seconds),
        "list": _stats([s for s in samples if s.kind == "list"], seconds),
        "status_codes": {str(k): v for k, v in sorted(Counter(s.status for s in samples).items())},
        "baselines": baselines,
        "webhooks_acknowledged": acknowledged,  # the warm-up's included
        "messages_stored": stored,
        "lost_or_duplicated": acknowledged - stored,
    }
