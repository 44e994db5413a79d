"""Scheduled auto-close on DynamoDB Local (README "Auto-close").

Each test gets a table of its own (created from template.yaml): the workspace registry is global
to a table, so a run visits exactly the workspaces the test made. Tickets are made through the
real ingest service with chosen times, then ``run_auto_close`` runs at a fixed ``NOW``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.meter import CapacityMeter
from local.template import create_tables, load_template, schedules
from tests.helpers import FakeLambdaContext, load_event, unique
from ticketing.clock import utc_now
from ticketing.models.commands import CustomerMessageReceived
from ticketing.models.records import Channel, Ticket, TicketStatus, WorkspaceSettings
from ticketing.repository import keys
from ticketing.repository.auto_close import AutoCloseStore, Checkpoint, DueTicket
from ticketing.repository.dynamodb import DynamoTicketRepository
from ticketing.repository.workspaces import WorkspaceStore
from ticketing.services import tickets
from ticketing.services.auto_close import ACTOR, AutoCloseReport, run_auto_close
from ticketing.services.ingest import conversation_id_for, ingest_customer_message
from ticketing.views import status_view

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PAGE = "page-1"
PLENTY = 300_000  # ms left: never runs out


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture
def table(ddb_client: Any) -> Iterator[str]:
    name = unique("ticket-engine-ac-")
    create_tables(ddb_client, load_template(), {"TicketTable": name})
    yield name
    ddb_client.delete_table(TableName=name)


@pytest.fixture
def repo(ddb_client: Any, table: str) -> DynamoTicketRepository:  # this file's own table
    return DynamoTicketRepository(ddb_client, table)


# ---------------------------------------------------------------------------- helpers
def workspace(repo: Any, prefix: str = "ws-", **settings: Any) -> str:
    workspace_id = unique(prefix)
    repo.put_workspace(WorkspaceSettings(workspace_id=workspace_id, **settings))
    return workspace_id


def say(repo: Any, workspace_id: str, psid: str, at: datetime, mid: str | None = None) -> Any:
    """A customer message received at ``at`` (the ticket's activity)."""
    command = CustomerMessageReceived(
        channel=Channel.MESSENGER,
        account_id=PAGE,
        customer_id=psid,
        channel_message_id=mid or unique("mid-"),
        sent_at=at,
        text="hello",
    )
    return ingest_customer_message(repo, workspace_id, command, at)


def ticket_at(repo: Any, workspace_id: str, psid: str, at: datetime) -> str:
    result = say(repo, workspace_id, psid, at)
    assert result.outcome == "created", result
    return str(result.ticket_id)


def conversation(repo: Any, workspace_id: str, psid: str) -> Any:
    return repo.get_conversation(workspace_id, conversation_id_for("messenger", PAGE, psid))


def status(repo: Any, workspace_id: str, ticket_id: str) -> TicketStatus:
    return repo.get_ticket(workspace_id, ticket_id).status


def run(repo: Any, *, now: datetime = NOW, time_left: Any = None, **kwargs: Any) -> Any:
    return run_auto_close(
        WorkspaceStore(repo),
        AutoCloseStore(repo),
        now=now,
        time_left_ms=time_left or (lambda: PLENTY),
        **kwargs,
    )


def open_tickets_of(repo: Any, workspace_id: str, conversation_id: str) -> list[Ticket]:
    found, cursor = [], None
    while True:
        page = repo.list_tickets(workspace_id, TicketStatus.OPEN, 100, cursor)
        found += [t for t in page.items if t.conversation_id == conversation_id]
        if not (cursor := page.next_cursor):
            return found


def stored_messages(repo: Any, workspace_id: str, ticket_ids: set[str]) -> list[str]:
    ids = []
    for ticket_id in ticket_ids:
        ids += [
            m.channel_message_id
            for m in repo.list_messages(workspace_id, ticket_id, 100, None).items
        ]
    return ids


# ---------------------------------------------------------------------------- what is closed
def test_closes_exactly_the_due_tickets(repo):
    # GIVEN workspace A (threshold 24 h) with tickets of every kind
    a = workspace(repo, auto_close_after_seconds=24 * 3600)
    due_old = ticket_at(repo, a, "old", NOW - 3 * DAY)
    due_day = ticket_at(repo, a, "day", NOW - DAY - 1 * HOUR)
    edge = ticket_at(repo, a, "edge", NOW - DAY)  # exactly the threshold: not "older than"
    fresh = ticket_at(repo, a, "fresh", NOW - HOUR)
    bumped = ticket_at(repo, a, "bumped", NOW - 5 * DAY)
    say(repo, a, "bumped", NOW - 2 * HOUR)  # an old ticket with a recent message
    closed = ticket_at(repo, a, "closed", NOW - 4 * DAY)
    tickets.close_ticket(repo, a, closed, actor="agent-1", now=NOW - 4 * DAY + HOUR)
    spam = ticket_at(repo, a, "spam", NOW - 4 * DAY)
    tickets.mark_spam(repo, a, spam, actor="agent-1", now=NOW - 4 * DAY + HOUR)
    # ... workspace B with auto-close off, and workspace C never configured (default 48 h)
    b = workspace(repo, auto_close_after_seconds=None)
    off = ticket_at(repo, b, "off", NOW - 10 * DAY)
    c = unique("ws-c-")
    c_due = ticket_at(repo, c, "c-due", NOW - 49 * HOUR)
    c_fresh = ticket_at(repo, c, "c-fresh", NOW - 47 * HOUR)

    # WHEN the scheduled run happens at NOW
    report = run(repo)

    # THEN exactly the three due tickets are closed; everything else is as it was
    assert report == AutoCloseReport(workspaces=2, due=3, closed=3)  # B is off: not visited
    assert {
        t: status(repo, a, t) for t in (due_old, due_day, edge, fresh, bumped, closed, spam)
    } == {
        due_old: TicketStatus.CLOSED,
        due_day: TicketStatus.CLOSED,
        edge: TicketStatus.OPEN,
        fresh: TicketStatus.OPEN,
        bumped: TicketStatus.OPEN,
        closed: TicketStatus.CLOSED,
        spam: TicketStatus.SPAM,
    }
    assert status(repo, b, off) is TicketStatus.OPEN
    assert status(repo, c, c_due) is TicketStatus.CLOSED
    assert status(repo, c, c_fresh) is TicketStatus.OPEN
    # ... with the close recorded as automation, and the conversation guard released
    ticket = repo.get_ticket(a, due_old)
    assert ticket.closed_at == NOW
    last = repo.list_history(a, due_old)[-1]
    assert (last.event, last.actor, last.from_status, last.to_status) == (
        "closed",
        ACTOR,
        TicketStatus.OPEN,
        TicketStatus.CLOSED,
    )
    since = (NOW - 3 * DAY).isoformat().replace("+00:00", "Z")
    assert last.detail == f"closed by automation (inactive since {since})"
    guard = conversation(repo, a, "old")
    assert guard.open_ticket_id is None
    assert guard.latest_ticket_status is TicketStatus.CLOSED
    assert guard.latest_closed_at == NOW
    # ... the agent-closed ticket got no automation event
    assert [e.actor for e in repo.list_history(a, closed)] == ["customer", "agent-1"]

    # WHEN the next run comes 15 minutes later
    # THEN only the ticket that was exactly at the threshold has become due
    later = run(repo, now=NOW + timedelta(minutes=15))
    assert later == AutoCloseReport(workspaces=2, due=1, closed=1)
    assert status(repo, a, edge) is TicketStatus.CLOSED
    assert status(repo, a, fresh) is TicketStatus.OPEN


def test_an_auto_closed_ticket_reopens_on_the_customers_next_message(repo):
    # GIVEN a ticket auto-closed at NOW (reopen window: the default 24 h)
    ws = workspace(repo)
    ticket_id = ticket_at(repo, ws, "psid", NOW - 3 * DAY)
    assert run(repo).closed == 1
    # WHEN the customer writes an hour later
    result = say(repo, ws, "psid", NOW + HOUR)
    # THEN the same ticket is open again with the message
    assert (result.outcome, result.ticket_id) == ("reopened", ticket_id)
    assert status(repo, ws, ticket_id) is TicketStatus.OPEN


# ---------------------------------------------------------------------------- races
class _MessageDuring(AutoCloseStore):
    """The customer writes between the Query and the close (``before``) or right after it."""

    def __init__(self, repo: Any, *, before: bool) -> None:
        super().__init__(repo)
        self.repo, self.before, self.results = repo, before, []

    def close(self, due: DueTicket, *, history: Any, now: datetime) -> None:
        psid = conversation_psid(due.ticket)
        if self.before:
            self.results.append(say(self.repo, due.ticket.workspace_id, psid, NOW, mid="racer"))
        try:
            super().close(due, history=history, now=now)
        finally:
            if not self.before:
                self.results.append(say(self.repo, due.ticket.workspace_id, psid, NOW, mid="racer"))


PSIDS: dict[str, str] = {}


def conversation_psid(ticket: Ticket) -> str:
    return PSIDS[ticket.conversation_id]


def make_due(repo: Any, ws: str, psid: str) -> str:
    ticket_id = ticket_at(repo, ws, psid, NOW - 3 * DAY)
    PSIDS[conversation_id_for("messenger", PAGE, psid)] = psid
    return ticket_id


@pytest.mark.parametrize("reopen_window", [3600, None])
def test_a_message_between_the_query_and_the_close_keeps_the_ticket_open(repo, reopen_window):
    # GIVEN a due ticket, and a customer message arriving after the Query saw it
    ws = workspace(repo, reopen_window_seconds=reopen_window)
    psid = unique("psid-")
    ticket_id = make_due(repo, ws, psid)
    store = _MessageDuring(repo, before=True)
    # WHEN the run tries to close it
    report = run_auto_close(WorkspaceStore(repo), store, now=NOW, time_left_ms=lambda: PLENTY)
    # THEN the guarded close fails: the ticket stays open with the message, nothing recorded
    assert report == AutoCloseReport(workspaces=1, due=1, changed=1)
    assert [r.outcome for r in store.results] == ["appended"]
    assert status(repo, ws, ticket_id) is TicketStatus.OPEN
    assert [e.actor for e in repo.list_history(ws, ticket_id)] == ["customer"]
    assert sorted(stored_messages(repo, ws, {ticket_id})) == sorted(
        [m.channel_message_id for m in repo.list_messages(ws, ticket_id, 10, None).items]
    )
    assert "racer" in stored_messages(repo, ws, {ticket_id})
    assert conversation(repo, ws, psid).open_ticket_id == ticket_id


@pytest.mark.parametrize(("reopen_window", "outcome"), [(3600, "reopened"), (None, "created")])
def test_a_message_right_after_the_close_reopens_or_lands_on_a_new_ticket(
    repo, reopen_window, outcome
):
    # GIVEN a due ticket, and a customer message right after the close committed
    ws = workspace(repo, reopen_window_seconds=reopen_window)
    psid = unique("psid-")
    ticket_id = make_due(repo, ws, psid)
    store = _MessageDuring(repo, before=False)
    # WHEN the run closes it
    report = run_auto_close(WorkspaceStore(repo), store, now=NOW, time_left_ms=lambda: PLENTY)
    # THEN it was closed, and the message reopened it (window on) or opened a new ticket (off):
    # stored once, on the conversation's one open ticket
    assert report.closed == 1
    (result,) = store.results
    assert result.outcome == outcome
    guard = conversation(repo, ws, psid)
    assert guard.open_ticket_id == result.ticket_id
    assert (result.ticket_id == ticket_id) is (outcome == "reopened")
    assert [t.ticket_id for t in open_tickets_of(repo, ws, guard.conversation_id)] == [
        result.ticket_id
    ]
    everywhere = stored_messages(repo, ws, {ticket_id, result.ticket_id})
    assert everywhere.count("racer") == 1


@pytest.mark.parametrize("reopen_window", [3600, None])
def test_messages_racing_a_run_are_never_lost(repo, reopen_window):
    # GIVEN twelve due conversations
    ws = workspace(repo, reopen_window_seconds=reopen_window)
    psids = [unique("psid-") for _ in range(12)]
    originals = {psid: make_due(repo, ws, psid) for psid in psids}
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}
    reports: list[AutoCloseReport] = []

    def customers() -> None:
        barrier.wait()
        for psid in psids:
            results[psid] = say(repo, ws, psid, NOW, mid=f"race-{psid}")

    def scheduler() -> None:
        barrier.wait()
        reports.append(run(repo, ticket_page=3))

    # WHEN every customer writes while the run is closing their tickets
    threads = [threading.Thread(target=customers), threading.Thread(target=scheduler)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # THEN each conversation has exactly one open ticket, holding that customer's message, stored
    # once; every ticket the run saw was either closed or kept open by its message (a message
    # that came before the Query made its ticket not due)
    (report,) = reports
    assert report.due <= 12
    assert report.closed + report.changed == report.due
    assert report.failed == 0
    for psid in psids:
        guard = conversation(repo, ws, psid)
        result = results[psid]
        assert result.outcome in {"appended", "reopened", "created"}
        assert guard.open_ticket_id == result.ticket_id
        assert [t.ticket_id for t in open_tickets_of(repo, ws, guard.conversation_id)] == [
            result.ticket_id
        ]
        held = stored_messages(repo, ws, {originals[psid], result.ticket_id})
        assert held.count(f"race-{psid}") == 1


def test_an_agent_change_since_the_query_keeps_the_ticket_open(repo):
    # GIVEN a due ticket that an agent labels after the Query saw it (its version moves)
    ws = workspace(repo)
    ticket_id = ticket_at(repo, ws, "psid", NOW - 3 * DAY)

    class AgentFirst(AutoCloseStore):
        def close(self, due: DueTicket, *, history: Any, now: datetime) -> None:
            tickets.change_ticket(
                repo,
                ws,
                ticket_id,
                "labels_changed",
                actor="agent-1",
                now=NOW,
                set_values={"labels": ["vip"]},
            )
            super().close(due, history=history, now=now)

    # WHEN the run tries to close it
    report = run_auto_close(
        WorkspaceStore(repo), AgentFirst(repo), now=NOW, time_left_ms=lambda: PLENTY
    )
    # THEN the version guard refuses: still open, with the agent's label
    assert report.changed == 1
    assert report.closed == 0
    ticket = repo.get_ticket(ws, ticket_id)
    assert ticket.status is TicketStatus.OPEN
    assert ticket.labels == ["vip"]


# ---------------------------------------------------------------------------- paging and time
class _Budget:
    """time_left_ms that runs low once ``closes`` tickets were closed (counted by the store)."""

    def __init__(self, closes: int) -> None:
        self.closes, self.done = closes, 0

    def __call__(self) -> int:
        return 0 if self.done >= self.closes else PLENTY


class _CountingStore(AutoCloseStore):
    def __init__(self, repo: Any, budget: _Budget) -> None:
        super().__init__(repo)
        self.budget = budget

    def close(self, due: DueTicket, *, history: Any, now: datetime) -> None:
        super().close(due, history=history, now=now)
        self.budget.done += 1


def test_a_backlog_larger_than_a_page_is_finished_by_the_next_run(repo):
    # GIVEN a backlog of 12 due tickets in workspace A and 3 in workspace B (after A)
    a = workspace(repo, "ws-a-")
    b = workspace(repo, "ws-b-")
    backlog_a = [ticket_at(repo, a, f"a{i}", NOW - 3 * DAY + i * HOUR) for i in range(12)]
    backlog_b = [ticket_at(repo, b, f"b{i}", NOW - 3 * DAY) for i in range(3)]
    assert sorted([a, b]) == [a, b]  # registry order: A first
    # WHEN a run with pages of 5 runs out of time after 7 closes
    budget = _Budget(7)
    first = run_auto_close(
        WorkspaceStore(repo),
        _CountingStore(repo, budget),
        now=NOW,
        time_left_ms=budget,
        ticket_page=5,
    )
    # THEN it stopped early, having closed the 7 oldest of A and saved where it was
    assert first == AutoCloseReport(workspaces=1, due=7, closed=7, stopped_early=True)
    statuses = [status(repo, a, t) for t in backlog_a]
    assert statuses == [TicketStatus.CLOSED] * 7 + [TicketStatus.OPEN] * 5
    checkpoint = AutoCloseStore(repo).get_checkpoint()
    assert checkpoint is not None
    assert checkpoint.workspace_id == a
    # WHEN the next run has time
    second = run(repo, now=NOW + timedelta(minutes=15), ticket_page=5)
    # THEN it resumes in A, closes only what is left there and in B, and clears the checkpoint
    assert second == AutoCloseReport(workspaces=2, due=8, closed=8)
    assert all(status(repo, a, t) is TicketStatus.CLOSED for t in backlog_a)
    assert all(status(repo, b, t) is TicketStatus.CLOSED for t in backlog_b)
    assert AutoCloseStore(repo).get_checkpoint() is None
    for ticket_id in backlog_a:
        closes = [e for e in repo.list_history(a, ticket_id) if e.event == "closed"]
        assert len(closes) == 1


def test_a_workspace_with_a_huge_backlog_does_not_starve_the_next_one(repo):
    # GIVEN A (first in the registry) with a backlog and B after it
    a = workspace(repo, "ws-a-")
    b = workspace(repo, "ws-b-")
    for i in range(6):
        ticket_at(repo, a, f"a{i}", NOW - 3 * DAY)
    b_ticket = ticket_at(repo, b, "b0", NOW - 3 * DAY)
    # WHEN every run only has time for 4 closes
    reports = []
    for i in range(2):
        budget = _Budget(4)
        reports.append(
            run_auto_close(
                WorkspaceStore(repo),
                _CountingStore(repo, budget),
                now=NOW + i * timedelta(minutes=15),
                time_left_ms=budget,
                ticket_page=2,
            )
        )
    # THEN the second run continued from A's checkpoint and reached B
    assert [r.closed for r in reports] == [4, 3]
    assert status(repo, b, b_ticket) is TicketStatus.CLOSED
    assert reports[1].stopped_early is False


def test_a_ticket_whose_close_keeps_failing_does_not_block_the_others(repo, ddb_client, table):
    # GIVEN the oldest due ticket is stuck (its conversation guard no longer names it), and three
    # due tickets behind it
    ws = workspace(repo)
    stuck = ticket_at(repo, ws, "stuck", NOW - 5 * DAY)
    key = keys.conversation_key(ws, conversation_id_for("messenger", PAGE, "stuck"))
    ddb_client.update_item(
        TableName=table,
        Key={k: {"S": v} for k, v in key.items()},
        UpdateExpression="SET open_ticket_id = :other",
        ExpressionAttributeValues={":other": {"S": "t_someone_else"}},
    )
    others = [ticket_at(repo, ws, f"p{i}", NOW - 3 * DAY) for i in range(3)]
    # WHEN runs with pages of one ticket happen
    first = run(repo, ticket_page=1)
    second = run(repo, now=NOW + timedelta(minutes=15), ticket_page=1)
    # THEN the others are closed in the first run; the stuck one is stepped over each time
    assert first == AutoCloseReport(workspaces=1, due=4, closed=3, changed=1)
    assert second == AutoCloseReport(workspaces=1, due=1, changed=1)
    assert all(status(repo, ws, t) is TicketStatus.CLOSED for t in others)
    assert status(repo, ws, stuck) is TicketStatus.OPEN


# ---------------------------------------------------------------------------- cost
def query_reads(meter: CapacityMeter) -> list[tuple[float, int]]:
    """(read units, items examined) of each due-tickets Query (the open list's entries, gsi1)
    the run made."""
    return [
        (r.read_units, r.response["ScannedCount"])
        for r in meter.requests
        if r.operation == "Query"
        and r.params
        and r.params.get("IndexName") == keys.GSI1
        and ":cutoff" in r.params.get("ExpressionAttributeValues", {})
    ]


def put_noise(ddb_client: Any, repo: Any, table: str, ws: str, count: int) -> None:
    """``count`` ticket items per kind: closed and spam long ago, open with recent activity."""
    kinds = [
        (TicketStatus.CLOSED, NOW - 30 * DAY),
        (TicketStatus.SPAM, NOW - 30 * DAY),
        (TicketStatus.OPEN, NOW - HOUR),
    ]
    items = []
    for status_, at in kinds:
        for i in range(count):
            ticket = Ticket(
                workspace_id=ws,
                ticket_id=unique("t_noise"),
                number=100_000 + i,
                conversation_id=unique("cv_noise"),
                contact_id="c_noise",
                channel=Channel.MESSENGER,
                account_id=PAGE,
                status=status_,
                created_at=at,
                last_activity_at=at,
            )
            items.append({"PutRequest": {"Item": repo._ticket_item(ticket)}})
    for start in range(0, len(items), 25):
        ddb_client.batch_write_item(RequestItems={table: items[start : start + 25]})


def test_reads_follow_the_due_tickets_not_the_history(repo, ddb_client, table):
    # GIVEN two workspaces with the same 5 due tickets; the second also holds 100 closed, 100
    # spam and 100 fresh open tickets
    quiet = workspace(repo, "ws-a-")
    busy = workspace(repo, "ws-b-")
    for ws in (quiet, busy):
        for i in range(5):
            ticket_at(repo, ws, f"p{i}", NOW - 3 * DAY)
    put_noise(ddb_client, repo, table, busy, 100)
    # WHEN the run is metered
    with CapacityMeter(ddb_client) as meter:
        report = run(repo)
    # THEN each workspace's candidates are one Query that examined exactly its 5 due tickets,
    # at the same read cost; the whole run is 3 requests plus 1 Query per workspace plus one
    # transaction per close
    assert report == AutoCloseReport(workspaces=2, due=10, closed=10)
    reads = query_reads(meter)
    assert reads == [(0.5, 5), (0.5, 5)]
    calls = [(r.operation, r.read_units, r.write_units) for r in meter.requests]
    assert calls[:3] == [
        ("GetItem", 1.0, 0.0),  # the checkpoint (none)
        ("Query", 0.5, 0.0),  # a page of the workspace registry
        ("BatchGetItem", 1.0, 0.0),  # the page's workspace settings
    ]
    closes = [c for c in calls if c[0] == "TransactWriteItems"]
    assert closes == [("TransactWriteItems", 0.0, 2.0)] * 10  # ticket, conversation, history
    assert len(calls) == 3 + 2 + 10


def test_reads_grow_with_the_due_tickets(repo, ddb_client):
    # GIVEN a workspace with 5 due tickets and one with 20
    few = workspace(repo, "ws-a-")
    many = workspace(repo, "ws-b-")
    for i in range(5):
        ticket_at(repo, few, f"f{i}", NOW - 3 * DAY)
    for i in range(20):
        ticket_at(repo, many, f"m{i}", NOW - 3 * DAY)
    # WHEN the run is metered
    with CapacityMeter(ddb_client) as meter:
        run(repo)
    # THEN the Query read units grow with the number of due tickets
    (few_units, few_scanned), (many_units, many_scanned) = query_reads(meter)
    assert (few_scanned, many_scanned) == (5, 20)
    assert (few_units, many_units) == (0.5, 1.5)


# ---------------------------------------------------------------------------- handler
def test_the_handler_runs_on_the_sample_scheduled_event(repo, table, monkeypatch, app_env, capsys):
    # GIVEN the function's environment on this test's table, and a ticket 3 days inactive
    from functions.auto_close.app import lambda_handler
    from tests.conftest import _clear_caches

    monkeypatch.setenv("TABLE_NAME", table)
    _clear_caches()
    ws = workspace(repo)
    ticket_id = ticket_at(repo, ws, "psid", utc_now() - 3 * DAY)
    capsys.readouterr()
    # WHEN EventBridge's scheduled event (events/auto_close/) invokes the handler
    result = lambda_handler(load_event("auto_close/auto_close_scheduled"), FakeLambdaContext())
    # THEN it closed the ticket, answered its report and published the metrics (EMF)
    assert result == {
        "workspaces": 1,
        "due": 1,
        "closed": 1,
        "changed": 0,
        "failed": 0,
        "stopped_early": False,
    }
    assert status(repo, ws, ticket_id) is TicketStatus.CLOSED
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    (metrics,) = [m for m in emitted if "AutoClosedTickets" in m]
    assert metrics["AutoClosedTickets"] == [1.0]
    assert metrics["AutoCloseDueTickets"] == [1.0]
    assert metrics["AutoCloseStoppedEarly"] == [0.0]


def test_the_local_stack_runs_the_schedule():
    # GIVEN the template as the local stack reads it
    # WHEN its schedules are listed
    found = [s for s in schedules(load_template()) if s.function_id == "AutoCloseFunction"]
    # THEN the auto-close function fires every 15 minutes
    assert [(s.expression, s.interval_seconds) for s in found] == [("rate(15 minutes)", 900)]


def test_the_local_stack_triggers_it_by_hand(repo, table, monkeypatch, app_env):
    # GIVEN the local server on the project's template, its functions on this test's table, and
    # a ticket 3 days inactive
    import http.client

    from local.server import serve
    from tests.conftest import _clear_caches

    monkeypatch.setenv("TABLE_NAME", table)
    _clear_caches()
    ws = workspace(repo)
    ticket_id = ticket_at(repo, ws, "psid", utc_now() - 3 * DAY)
    server, thread = serve(0, template=load_template())
    try:
        # WHEN the schedule is triggered by hand
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
        connection.request("POST", "/_local/schedules/AutoCloseFunction")
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    # THEN the function ran on a Scheduled Event and closed the ticket
    assert response.status == 200, body
    assert body["function"] == "AutoCloseFunction"
    assert body["result"]["closed"] == 1
    assert status(repo, ws, ticket_id) is TicketStatus.CLOSED


def test_a_checkpoint_past_the_cutoff_is_not_an_error(repo):
    # GIVEN a checkpoint inside A at a position later than this run's cutoff (A's threshold grew
    # since), and a due ticket in B
    a = workspace(repo, "ws-a-", auto_close_after_seconds=3 * 24 * 3600)
    b = workspace(repo, "ws-b-")
    a_ticket = ticket_at(repo, a, "a0", NOW - 2 * DAY)
    b_ticket = ticket_at(repo, b, "b0", NOW - 3 * DAY)
    partition = keys.view_partition(a, status_view(TicketStatus.OPEN))
    position = {
        "pk": {"S": "x"},
        "sk": {"S": "VIEW#open"},
        "gsi1pk": {"S": partition},
        "gsi1sk": {"S": keys.ticket_activity_sort("t_later", NOW - HOUR)},
    }
    AutoCloseStore(repo).save_checkpoint(Checkpoint(a, position), now=NOW - DAY)
    # WHEN the run resumes from it
    report = run(repo)
    # THEN nothing is due after that position in A, B is done, and the cycle completes
    assert report == AutoCloseReport(workspaces=2, due=1, closed=1)
    assert status(repo, b, b_ticket) is TicketStatus.CLOSED
    assert status(repo, a, a_ticket) is TicketStatus.OPEN  # not due under A's 3-day threshold
    assert AutoCloseStore(repo).get_checkpoint() is None
