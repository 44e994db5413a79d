"""Races on one conversation, judged on DynamoDB Local (moto is no judge of concurrency).

Invariants of shared/DOMAIN.md under test:
- at most one open ticket per conversation at every instant, whatever runs concurrently;
- a message accepted from a channel (2xx) is stored exactly once, on exactly one ticket.

Two drivers release their writers from a barrier at the same instant:
- ``lambda`` — each writer is its own forked process calling the real webhook handler
  (``functions.webhook_ingest.app.lambda_handler``), i.e. one Lambda instance per request, with
  its own boto3 client and caches. Processes, not threads: like Lambda, the handler serves one
  event at a time per process (Powertools keeps the current event on the resolver class and buffers
  metrics per process), so threads inside one process would race on the test harness itself.
- ``threads`` — 16+ threads (``threading.Barrier``) in this process each run the webhook service
  (``services.webhooks.receive_webhook``: parse, signature, connection lookup, routing, conditional
  writes) over one shared thread-safe boto3 client.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config

from functions.webhook_ingest import app as webhook_app
from local import demo
from tests.helpers import FakeLambdaContext, unique
from ticketing.channels import get_adapter
from ticketing.clock import utc_now
from ticketing.config import get_settings
from ticketing.errors import ConflictError, PreconditionFailedError, TicketEngineError
from ticketing.models import Channel, TicketStatus, WorkspaceSettings
from ticketing.repository import dynamodb as ddb
from ticketing.repository import keys
from ticketing.secrets import resolve_secret
from ticketing.services import tickets, webhooks
from ticketing.services.ingest import conversation_id_for

pytestmark = pytest.mark.integration

WRITERS = 16
ROUNDS = 5
FORK = multiprocessing.get_context("fork")
Answer = tuple[int, dict[str, Any]]


# ---------------------------------------------------------------------------- drivers
def _lambda_instance(index: int, events: list[dict[str, Any]], barrier: Any, out: Any) -> None:
    """A fresh, warm Lambda instance (forked): its own DynamoDB client (connected) and caches;
    after the barrier it handles its events in turn."""
    try:
        ddb.dynamodb_client.cache_clear()
        ddb.get_repository.cache_clear()
        webhook_app.connections.cache_clear()
        ddb.get_repository().get_workspace("warm-up")  # opens the client's connection
        barrier.wait(timeout=60)
        answers = []
        for event in events:
            response = webhook_app.lambda_handler(event, FakeLambdaContext())
            answers.append((response["statusCode"], json.loads(response["body"])))
        out.put((index, answers))
    except BaseException as exc:  # report it to the parent rather than die silently
        out.put((index, [(-1, {"exception": repr(exc)})]))


def warm_up_lambda_code() -> None:
    """Build boto3's model caches and import the channel adapters once before forking, as a
    warm Lambda instance has them (so no child imports modules after the barrier)."""
    ddb.dynamodb_client()
    for channel in ("messenger", "line"):
        get_adapter(channel)


def run_lambda_instances(
    batches: list[list[dict[str, Any]]], start: Callable[[], None] | None = None
) -> list[list[Answer]]:
    """One forked Lambda instance per batch; ``start`` runs once they are all forked (so no
    thread of this process is forked along), just before the barrier releases them."""
    barrier = FORK.Barrier(len(batches) + 1)
    out = FORK.Queue()
    workers = [
        FORK.Process(target=_lambda_instance, args=(i, batch, barrier, out), daemon=True)
        for i, batch in enumerate(batches)
    ]
    for worker in workers:
        worker.start()
    answers: dict[int, list[Answer]] = {}
    try:
        if start is not None:
            start()
        barrier.wait(timeout=60)
        for _ in workers:
            index, result = out.get(timeout=120)
            answers[index] = result
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    return [answers[i] for i in range(len(batches))]


class ThreadDriver:
    """The webhook service in threads of this process (one shared client, as a warm container)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.repo = ddb.DynamoTicketRepository(client, table_name)
        self.connections = webhooks.ConnectionDirectory(self.repo, 60)

    def post(self, event: dict[str, Any]) -> Answer:
        settings = get_settings()
        try:
            report = webhooks.receive_webhook(
                repo=self.repo,
                connections=self.connections,
                resolve_secret=resolve_secret,
                channel=event["pathParameters"]["channel"],
                headers=webhooks.lower_headers(event["headers"]),
                raw=event["body"].encode(),
                now=utc_now(),
                max_body_bytes=settings.max_webhook_body_bytes,
                own_app_id=settings.meta_app_id,
            )
        except TicketEngineError as exc:
            body = exc.to_body()
            body["cause"] = repr(exc.__cause__)  # for the test's failure message only
            if exc.__cause__ is not None and exc.__cause__.__cause__ is not None:
                body["root"] = repr(exc.__cause__.__cause__)
            return exc.status_code, body
        return 200, {"received": report.events, "outcomes": report.outcomes}

    def run(
        self, batches: list[list[dict[str, Any]]], start: Callable[[], None] | None = None
    ) -> list[list[Answer]]:
        barrier = threading.Barrier(len(batches))
        if start is not None:
            start()

        def worker(batch: list[dict[str, Any]]) -> list[Answer]:
            barrier.wait(timeout=60)
            return [self.post(event) for event in batch]

        with ThreadPoolExecutor(max_workers=len(batches)) as pool:
            return list(pool.map(worker, batches))


@pytest.fixture(scope="module")
def wide_client(dynamodb_local: str) -> Any:
    """The production client config, with a connection pool wide enough for every thread."""
    return boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_local,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=ddb.CLIENT_CONFIG.merge(Config(max_pool_connections=WRITERS * 2 + 8)),
    )


@pytest.fixture(params=["lambda", "threads"])
def race(
    request: pytest.FixtureRequest, app_env: None, wide_client: Any, table_name: str
) -> Callable[..., list[list[Answer]]]:
    """race(batches, start=None) → answers: one concurrent writer per batch, all released at
    once (after ``start()``, when given)."""
    if request.param == "lambda":
        warm_up_lambda_code()
        return run_lambda_instances
    return ThreadDriver(wide_client, table_name).run


# ---------------------------------------------------------------------------- reading back
def all_tickets(repo: Any, workspace_id: str) -> list[Any]:
    found = []
    for status in TicketStatus:
        cursor = None
        while True:
            page = repo.list_tickets(workspace_id, status, 100, cursor)
            found.extend(page.items)
            if (cursor := page.next_cursor) is None:
                break
    return found


def ticket_messages(repo: Any, workspace_id: str, ticket_id: str) -> list[Any]:
    found, cursor = [], None
    while True:
        page = repo.list_messages(workspace_id, ticket_id, 100, cursor)
        found.extend(page.items)
        if (cursor := page.next_cursor) is None:
            return found


def conversation_tickets(repo: Any, workspace_id: str, conversation_id: str) -> list[Any]:
    return [t for t in all_tickets(repo, workspace_id) if t.conversation_id == conversation_id]


def contenders(repo: Any, workspace_id: str) -> int:
    """How many ticket numbers the workspace has drawn (one per attempt to open a ticket)."""
    key = {k: {"S": v} for k, v in keys.workspace_key(workspace_id).items()}
    item = repo.client.get_item(TableName=repo.table_name, Key=key, ConsistentRead=True)
    return int(item.get("Item", {}).get("ticket_seq", {}).get("N", "0"))


def outcomes(answers: list[list[Answer]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for batch in answers:
        for status, body in batch:
            assert status == 200, body
            counts.update(body["outcomes"])
    return counts


# ---------------------------------------------------------------------------- the key race
MAX_TRIES = 3  # a round whose writers happened not to overlap is run again with a new customer


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_simultaneous_first_messages_open_exactly_one_ticket(accounts, repo, race, round_):
    contended = 0
    for _ in range(MAX_TRIES):
        # GIVEN a new customer (no conversation yet) and 16 distinct messages from them
        psid = unique(f"psid-r{round_}-")
        mids = [unique(f"mid-{i:02d}-") for i in range(WRITERS)]
        events = [
            accounts.messenger(
                accounts.messenger_message(mid, f"message {i}", psid=psid, ts=demo.T0 + i)
            )
            for i, mid in enumerate(mids)
        ]
        drawn = contenders(repo, accounts.workspace_id)

        # WHEN 16 writers post them at the same instant
        answers = race([[event] for event in events])

        # THEN every request is answered 200: exactly one created the ticket, the rest appended
        assert outcomes(answers) == {"created": 1, "appended": WRITERS - 1}
        # AND exactly one ticket exists for the conversation; open, holding all 16 messages
        conversation_id = conversation_id_for(Channel.MESSENGER, accounts.page_id, psid)
        (ticket,) = conversation_tickets(repo, accounts.workspace_id, conversation_id)
        assert ticket.status is TicketStatus.OPEN
        assert ticket.messages_in == WRITERS
        stored = ticket_messages(repo, accounts.workspace_id, ticket.ticket_id)
        assert sorted(m.channel_message_id for m in stored) == sorted(mids)
        assert [m.channel_message_id for m in stored] == mids  # channel-time order
        conversation = repo.get_conversation(accounts.workspace_id, conversation_id)
        assert conversation.open_ticket_id == ticket.ticket_id
        history = repo.list_history(accounts.workspace_id, ticket.ticket_id)
        assert [h.event for h in history] == ["created"]
        # AND one contact: the identity race has one winner too
        assert (
            repo.find_contact_id(accounts.workspace_id, Channel.MESSENGER, accounts.page_id, psid)
            == ticket.contact_id
        )
        # AND the race was real: several writers found no ticket and tried to open one (each
        # draws a ticket number first: numbers may have gaps, never duplicates)
        contended = contenders(repo, accounts.workspace_id) - drawn
        if contended >= 2:
            break
    assert contended >= 2, f"the writers never overlapped in {MAX_TRIES} tries"


def test_same_message_posted_concurrently_is_stored_once(accounts, repo, race):
    # GIVEN one message of a new customer, delivered 16 times at once (an eager redelivery)
    psid = unique("psid-")
    event = accounts.messenger(accounts.messenger_message("mid-same", "once", psid=psid))

    # WHEN 16 writers post the very same request at the same instant
    answers = race([[event] for _ in range(WRITERS)])

    # THEN all are acknowledged, exactly one stored it, and one message exists
    assert outcomes(answers) == {"created": 1, "duplicate": WRITERS - 1}
    conversation_id = conversation_id_for(Channel.MESSENGER, accounts.page_id, psid)
    (ticket,) = conversation_tickets(repo, accounts.workspace_id, conversation_id)
    assert ticket.messages_in == 1
    stored = ticket_messages(repo, accounts.workspace_id, ticket.ticket_id)
    assert [m.channel_message_id for m in stored] == ["mid-same"]


def test_concurrent_line_messages_open_one_ticket(accounts, repo, race):
    # GIVEN a new LINE user and 16 messages, two of them redelivered as well
    user = unique("Uuser")
    ids = [unique(f"6{i:02d}") for i in range(WRITERS)]
    events = [
        accounts.line(demo.line_text(mid, f"line {i}", user=user, ts=demo.T0 + i))
        for i, mid in enumerate(ids)
    ]
    events += [
        accounts.line(demo.line_text(ids[0], "line 0", user=user, ts=demo.T0, redelivery=True)),
        accounts.line(demo.line_text(ids[1], "line 1", user=user, ts=demo.T0 + 1, redelivery=True)),
    ]

    # WHEN all 18 requests race
    answers = race([[event] for event in events])

    # THEN one ticket holds the 16 messages, each once
    counts = outcomes(answers)
    assert counts["created"] == 1
    assert counts["duplicate"] == 2
    assert counts["appended"] == WRITERS - 1
    conversation_id = conversation_id_for(Channel.LINE, accounts.line_bot_id, user)
    (ticket,) = conversation_tickets(repo, accounts.workspace_id, conversation_id)
    assert ticket.status is TicketStatus.OPEN
    assert ticket.messages_in == WRITERS
    stored = ticket_messages(repo, accounts.workspace_id, ticket.ticket_id)
    assert [m.channel_message_id for m in stored] == ids


# ---------------------------------------------------------------------------- close vs messages
def redeliver_refused(
    race: Callable[..., list[list[Answer]]],
    batches: list[list[dict[str, Any]]],
    answers: list[list[Answer]],
) -> tuple[list[list[Answer]], int]:
    """Act as the channel: every request answered 503 is delivered again (at most 3 times).
    Anything else than 200 or 503 storage_unavailable fails the test."""
    final: list[list[Answer]] = []
    redelivered = 0
    for batch, batch_answers in zip(batches, answers, strict=True):
        settled = []
        for event, answer in zip(batch, batch_answers, strict=True):
            for _ in range(3):
                status, body = answer
                if status == 200:
                    break
                assert status == 503, body
                assert body["error"]["code"] == "storage_unavailable", body
                redelivered += 1
                answer = race([[event]])[0][0]
            assert answer[0] == 200, answer
            settled.append(answer)
        final.append(settled)
    return final, redelivered


class Closer:
    """Closes the conversation's open ticket again and again while messages arrive; meanwhile
    samples the open inbox to catch two open tickets at any instant."""

    def __init__(self, repo: Any, workspace_id: str, conversation_id: str) -> None:
        self.repo = repo
        self.workspace_id = workspace_id
        self.conversation_id = conversation_id
        self.stop = threading.Event()
        self.closed = 0
        self.conflicts = 0
        self.samples = 0
        self.max_open = 0
        self.errors: queue.Queue[BaseException] = queue.Queue()

    def _close_loop(self) -> None:
        try:
            while not self.stop.is_set():
                conversation = self.repo.get_conversation(self.workspace_id, self.conversation_id)
                if conversation is None or conversation.open_ticket_id is None:
                    time.sleep(0.002)
                    continue
                try:
                    tickets.leave_open(
                        self.repo,
                        self.workspace_id,
                        conversation.open_ticket_id,
                        TicketStatus.CLOSED,
                        actor="agent-closer",
                        now=utc_now(),
                    )
                    self.closed += 1
                except (ConflictError, PreconditionFailedError):
                    self.conflicts += 1  # the ticket changed since the closer read it
                time.sleep(0.003)
        except BaseException as exc:
            self.errors.put(exc)

    def _watch_loop(self) -> None:
        try:
            while not self.stop.is_set():
                page = self.repo.list_tickets(self.workspace_id, TicketStatus.OPEN, 10, None)
                mine = [t for t in page.items if t.conversation_id == self.conversation_id]
                self.max_open = max(self.max_open, len(mine))
                self.samples += 1
        except BaseException as exc:
            self.errors.put(exc)

    def start(self) -> None:
        self.threads = [
            threading.Thread(target=self._close_loop, daemon=True),
            threading.Thread(target=self._watch_loop, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.mark.parametrize("window", [3600, None], ids=["reopen-window", "window-off"])
def test_close_racing_incoming_messages(accounts, repo, race, window):
    # GIVEN a customer with an open ticket, and an agent who keeps closing it
    repo.put_workspace(
        WorkspaceSettings(workspace_id=accounts.workspace_id, reopen_window_seconds=window)
    )
    psid = unique("psid-")
    conversation_id = conversation_id_for(Channel.MESSENGER, accounts.page_id, psid)
    first = accounts.messenger(accounts.messenger_message("mid-first", "hi", psid=psid))
    assert race([[first]]) == [[(200, {"received": 1, "outcomes": {"created": 1}})]]
    per_writer = 4
    mids = [[unique(f"mid-w{w:02d}-{n}-") for n in range(per_writer)] for w in range(WRITERS)]
    batches = [
        [
            accounts.messenger(
                accounts.messenger_message(mid, mid, psid=psid, ts=demo.T0 + 10 + w * 10 + n)
            )
            for n, mid in enumerate(writer_mids)
        ]
        for w, writer_mids in enumerate(mids)
    ]

    # WHEN 16 writers post 4 messages each while the agent closes the ticket over and over
    closer = Closer(repo, accounts.workspace_id, conversation_id)
    try:
        answers = race(batches, start=closer.start)
    finally:
        closer.finish()
    assert closer.errors.empty(), closer.errors.get()

    # THEN every request was either stored (200) or refused with 503 so the channel redelivers:
    # with the ticket closed every few milliseconds a writer can lose its bounded retries
    answers, redelivered = redeliver_refused(race, batches, answers)
    counts = outcomes(answers)
    assert sum(counts.values()) == WRITERS * per_writer
    assert set(counts) <= {"appended", "reopened", "created", "duplicate"}
    assert counts["duplicate"] <= redelivered
    assert closer.closed >= 1, "the race never closed the ticket"
    # ...and the open inbox never showed two open tickets for the conversation
    assert closer.samples > 0
    assert closer.max_open <= 1
    # AND at most one ticket is open now, and it is the one the conversation guard names
    found = conversation_tickets(repo, accounts.workspace_id, conversation_id)
    open_now = [t for t in found if t.status is TicketStatus.OPEN]
    assert len(open_now) <= 1
    conversation = repo.get_conversation(accounts.workspace_id, conversation_id)
    assert conversation.open_ticket_id == (open_now[0].ticket_id if open_now else None)
    # AND no message is lost or doubled: each accepted message is on exactly one ticket
    placed: list[str] = []
    for ticket in found:
        on_ticket = ticket_messages(repo, accounts.workspace_id, ticket.ticket_id)
        assert ticket.messages_in == len(on_ticket), ticket.ticket_id
        placed.extend(m.channel_message_id for m in on_ticket)
    expected = ["mid-first", *(mid for writer in mids for mid in writer)]
    assert sorted(placed) == sorted(expected)
    # AND the ticket chain matches the rule: reopen within the window, else new linked tickets
    if window is None:
        assert counts["reopened"] == 0
        assert len(found) == 1 + counts["created"]
        chain = {t.previous_ticket_id for t in found}
        assert len(chain) == len(found)  # each ticket has a distinct predecessor: one chain
        assert len({t.number for t in found}) == len(found)
    else:
        assert counts["created"] == 0
        assert len(found) == 1
        assert found[0].reopen_count == counts["reopened"]
    # AND the conversation still routes correctly once the dust settles
    last = accounts.messenger(
        accounts.messenger_message("mid-last", "bye", psid=psid, ts=demo.T0 + 999)
    )
    assert race([[last]])[0][0][0] == 200
    open_after = [
        t
        for t in conversation_tickets(repo, accounts.workspace_id, conversation_id)
        if t.status is TicketStatus.OPEN
    ]
    assert len(open_after) == 1
