"""The ticket state machine against DynamoDB Local (issue 7, "Reliability"; shared/DOMAIN.md).

1. A hypothesis ``RuleBasedStateMachine``: a fresh workspace (reopen window 1 h, 24 h or off)
   with 1 to 3 Messenger conversations; random interleavings of customer messages (new, or a
   redelivery of an earlier one), agent closes, spam marks, auto-closes, refused transitions and
   clock advances (within, at and past the reopen window). ``now`` is passed to the services
   explicitly. After every step, read back from DynamoDB:
   - at most one open ticket per conversation: the workspace's open list, filtered to the
     conversation's tickets, and the conversation item's ``open_ticket_id`` agrees with it;
   - every accepted message stored exactly once, on the ticket the model expects (append / reopen /
     spam / new, by DOMAIN.md's rules), and the ticket's counter agrees;
   - each ticket's status, previous-ticket link and complete history (created first; every
     close / spam / reopen with actor, from and to).
2. The same invariants after threads mixing messages, redeliveries, closes and spam marks on one
   conversation for a few seconds (no model of *which* ticket: the history must tell a consistent
   story that accounts for every successful call).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.helpers import status_list, unique
from ticketing.clock import after
from ticketing.errors import ConflictError, PreconditionFailedError, StorageUnavailableError
from ticketing.models import Channel, CustomerMessageReceived, TicketStatus, WorkspaceSettings
from ticketing.repository import keys
from ticketing.repository.dynamodb import DynamoTicketRepository, from_dynamo
from ticketing.services import tickets
from ticketing.services.ingest import conversation_id_for, ingest_customer_message

pytestmark = pytest.mark.integration

T0 = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
HOUR = 3600
DAY = 24 * HOUR
OPEN, CLOSED, SPAM = TicketStatus.OPEN, TicketStatus.CLOSED, TicketStatus.SPAM


# ---------------------------------------------------------------------------- reading back
class Store:
    """Raw reads of one workspace (no repository code in the judge)."""

    def __init__(self, client: Any, table: str, workspace_id: str, page_id: str) -> None:
        self.client = client
        self.table = table
        self.workspace_id = workspace_id
        self.page_id = page_id

    def _query(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self.client.query(TableName=self.table, **kwargs)
            items.extend(from_dynamo(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def ticket_list(self, status: TicketStatus, *, catch_up: bool = True) -> list[dict[str, Any]]:
        """The workspace's tickets of one status (the inbox's list, checked against the ticket
        items it copies)."""
        return status_list(self.client, self.table, self.workspace_id, status, catch_up=catch_up)

    def tickets_by_status(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for status in TicketStatus:
            for item in self.ticket_list(status, catch_up=status is TicketStatus.OPEN):
                assert item["ticket_id"] not in found, "a ticket listed under two statuses"
                assert item["status"] == status.value, "list disagrees with status"
                found[item["ticket_id"]] = item
        return found

    def messages(self, ticket_id: str) -> list[str]:
        items = self._query(
            IndexName=keys.GSI1,
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={
                ":p": {"S": keys.ticket_messages_partition(self.workspace_id, ticket_id)}
            },
        )
        return [str(i["channel_message_id"]) for i in items]

    def history(self, ticket_id: str) -> list[tuple[str, str, str | None, str | None]]:
        items = self._query(
            KeyConditionExpression="pk = :p AND begins_with(sk, :h)",
            ExpressionAttributeValues={
                ":p": {"S": keys.ticket_key(self.workspace_id, ticket_id)[keys.PK]},
                ":h": {"S": "HIST#"},
            },
            ConsistentRead=True,
        )
        return [(i["event"], i["actor"], i.get("from_status"), i.get("to_status")) for i in items]

    def conversations(self, psids: list[str]) -> dict[str, dict[str, Any]]:
        """The conversation items (the guards) by psid, in one consistent BatchGetItem."""
        by_pk = {
            keys.conversation_key(self.workspace_id, self.conversation_id(psid))[keys.PK]: psid
            for psid in psids
        }
        response = self.client.batch_get_item(
            RequestItems={
                self.table: {
                    "Keys": [{keys.PK: {"S": pk}, keys.SK: {"S": "CONVERSATION"}} for pk in by_pk],
                    "ConsistentRead": True,
                }
            }
        )
        assert not response.get("UnprocessedKeys")
        found = {by_pk[i[keys.PK]["S"]]: from_dynamo(i) for i in response["Responses"][self.table]}
        return {psid: found.get(psid, {}) for psid in psids}

    def conversation_id(self, psid: str) -> str:
        return conversation_id_for("messenger", self.page_id, psid)


def assert_one_open_ticket_per_conversation(
    store: Store, psids: list[str], all_tickets: dict[str, dict[str, Any]]
) -> dict[str, str | None]:
    """The open list, per conversation, has at most one ticket, and the guard agrees.
    Returns each conversation's open ticket id."""
    open_list = store.ticket_list(OPEN)
    guards = store.conversations(psids)
    found: dict[str, str | None] = {}
    for psid in psids:
        conversation_id = store.conversation_id(psid)
        own = {t for t, item in all_tickets.items() if item["conversation_id"] == conversation_id}
        open_ids = [t["ticket_id"] for t in open_list if t["ticket_id"] in own]
        assert len(open_ids) <= 1, f"{len(open_ids)} open tickets in one conversation"
        found[psid] = open_ids[0] if open_ids else None
        assert guards[psid].get("open_ticket_id") == found[psid], "guard disagrees with the list"
    return found


def assert_history_tells_the_story(
    history: list[tuple[str, str, str | None, str | None]], ticket: dict[str, Any]
) -> None:
    """Created first; every later event moves from the status the previous one left; the last
    one leaves the ticket's current status."""
    assert history, "no history"
    assert history[0][0] == "created"
    assert history[0][2:] == (None, "open")
    for (_, _, _, before), (event, actor, from_status, to_status) in pairwise(history):
        assert actor, "an event without actor"
        assert from_status == before, (
            f"{event} from {from_status}, but the ticket was {before}: {history}"
        )
        assert (event, from_status, to_status) in {
            ("closed", "open", "closed"),
            ("marked_spam", "open", "spam"),
            ("reopened", "closed", "open"),
        }
    assert history[-1][3] == ticket["status"]


def assert_history_complete(
    history: list[tuple[str, str, str | None, str | None]], ticket: dict[str, Any]
) -> None:
    """The same story, order aside: under concurrency each caller stamps its own ``now`` (taken
    before its read), so a reopen decided on a close can carry an earlier time than that close,
    and the time-ordered list can show them swapped. One creation; the ticket left "open" once
    more than it came back to it unless it is open now; spam only last."""
    events = Counter(event for event, *_ in history)
    assert events["created"] == 1
    assert history[0][0] == "created"
    assert set(events) <= {"created", "closed", "marked_spam", "reopened"}
    left = events["closed"] + events["marked_spam"]
    assert left == events["reopened"] + (0 if ticket["status"] == "open" else 1)
    assert events["marked_spam"] == (1 if ticket["status"] == "spam" else 0)
    for event, actor, from_status, to_status in history:
        assert actor, "an event without actor"
        assert (event, from_status, to_status) in {
            ("created", None, "open"),
            ("closed", "open", "closed"),
            ("marked_spam", "open", "spam"),
            ("reopened", "closed", "open"),
        }


# ---------------------------------------------------------------------------- the model
@dataclass
class ModelTicket:
    ticket_id: str
    status: TicketStatus
    previous: str | None
    messages: list[str] = field(default_factory=list)
    closed_at: datetime | None = None
    last_activity: datetime | None = None
    history: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)


@dataclass
class ModelConversation:
    psid: str
    tickets: list[ModelTicket] = field(default_factory=list)

    @property
    def latest(self) -> ModelTicket | None:
        return self.tickets[-1] if self.tickets else None

    @property
    def open(self) -> ModelTicket | None:
        return next((t for t in self.tickets if t.status is OPEN), None)


WINDOWS = [HOUR, DAY, None]  # None: reopening off


def expected_route(
    conversation: ModelConversation, window: int | None, now: datetime
) -> tuple[str, ModelTicket | None]:
    """DOMAIN.md, written again independently of ticketing.rules: (outcome, target ticket)."""
    if (current := conversation.open) is not None:
        return "appended", current
    latest = conversation.latest
    if latest is None:
        return "created", None
    if (
        latest.status is CLOSED
        and window is not None
        and latest.closed_at is not None
        and now - latest.closed_at < timedelta(seconds=window)
    ):
        return "reopened", latest
    if latest.status is SPAM:
        return "spam", latest
    return "created", None


def make_machine(client: Any, table: str) -> type[RuleBasedStateMachine]:
    repo = DynamoTicketRepository(client, table)

    class TicketStateMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.ready = False
            self.now = T0
            self.window: int | None = DAY
            self.page_id = unique("page-sm-")
            self.workspace_id = unique("ws-sm-")
            self.conversations: list[ModelConversation] = []
            self.accepted: dict[str, int] = {}  # mid -> conversation index
            self.dirty: set[str] = set()  # tickets whose messages/history changed this step
            self.store = Store(client, table, self.workspace_id, self.page_id)

        # -------------------------------------------------------------- setup
        @initialize(count=st.integers(1, 3), window=st.sampled_from(WINDOWS))
        def fresh_workspace(self, count: int, window: int | None) -> None:
            # GIVEN a fresh workspace with its reopen window and 1-3 customers
            self.window = window
            repo.put_workspace(
                WorkspaceSettings(workspace_id=self.workspace_id, reopen_window_seconds=window)
            )
            self.conversations = [ModelConversation(unique(f"psid-{i}-")) for i in range(count)]
            self.ready = True

        def _conversation(self, data: st.DataObject) -> tuple[int, ModelConversation]:
            index = data.draw(st.integers(0, len(self.conversations) - 1), label="conversation")
            return index, self.conversations[index]

        def _ingest(self, conversation: ModelConversation, mid: str) -> Any:
            command = CustomerMessageReceived(
                channel=Channel.MESSENGER,
                account_id=self.page_id,
                customer_id=conversation.psid,
                channel_message_id=mid,
                sent_at=self.now,
                text=f"text of {mid}",
            )
            return ingest_customer_message(repo, self.workspace_id, command, self.now)

        # -------------------------------------------------------------- rules
        @rule(data=st.data())
        def customer_message(self, data: st.DataObject) -> None:
            # WHEN a customer writes a new message
            index, conversation = self._conversation(data)
            mid = unique("mid-")
            outcome, target = expected_route(conversation, self.window, self.now)
            result = self._ingest(conversation, mid)

            # THEN it goes where DOMAIN.md says
            assert result.outcome == outcome, (result, conversation)
            if target is None:
                assert result.ticket_id not in {t.ticket_id for t in conversation.tickets}
                latest = conversation.latest
                target = ModelTicket(result.ticket_id, OPEN, latest.ticket_id if latest else None)
                target.history.append(("created", "customer", None, "open"))
                conversation.tickets.append(target)
            assert result.ticket_id == target.ticket_id
            target.last_activity = self.now
            if outcome == "reopened":
                # a change is never stamped before the one it followed (ticketing.clock.after)
                target.last_activity = after(target.closed_at, self.now)
                target.status, target.closed_at = OPEN, None
                target.history.append(("reopened", "customer", "closed", "open"))
            target.messages.append(mid)
            self.accepted[mid] = index
            self.dirty.add(target.ticket_id)

        @precondition(lambda self: bool(self.accepted))
        @rule(data=st.data())
        def redelivery(self, data: st.DataObject) -> None:
            # WHEN the channel redelivers a message already accepted
            mid = data.draw(st.sampled_from(sorted(self.accepted)), label="mid")
            result = self._ingest(self.conversations[self.accepted[mid]], mid)

            # THEN nothing is stored again
            assert result.outcome == "duplicate"

        def _leave_open(self, data: st.DataObject, to: TicketStatus, actor: str) -> None:
            with_open = [i for i, c in enumerate(self.conversations) if c.open is not None]
            index = data.draw(st.sampled_from(with_open), label="conversation")
            ticket = self.conversations[index].open
            assert ticket is not None

            # WHEN an agent (or the auto-close job) moves the open ticket out of "open"
            updated = tickets.leave_open(
                repo, self.workspace_id, ticket.ticket_id, to, actor=actor, now=self.now
            )

            # THEN it is closed / spam, and the conversation has no open ticket any more
            assert updated.status is to
            ticket.status = to
            at = after(ticket.last_activity, self.now)  # as the service stamps it
            ticket.closed_at = at if to is CLOSED else None
            ticket.last_activity = at
            event = "closed" if to is CLOSED else "marked_spam"
            ticket.history.append((event, actor, "open", to.value))
            self.dirty.add(ticket.ticket_id)

        def _any_open(self) -> bool:
            return any(c.open is not None for c in self.conversations)

        @precondition(_any_open)
        @rule(data=st.data(), agent=st.sampled_from(["agent-1", "agent-2"]))
        def agent_closes(self, data: st.DataObject, agent: str) -> None:
            self._leave_open(data, CLOSED, agent)

        @precondition(_any_open)
        @rule(data=st.data())
        def agent_marks_spam(self, data: st.DataObject) -> None:
            self._leave_open(data, SPAM, "agent-1")

        @precondition(_any_open)
        @rule(data=st.data())
        def auto_close(self, data: st.DataObject) -> None:
            self._leave_open(data, CLOSED, "auto-close")

        @precondition(
            lambda self: any(t.status is not OPEN for c in self.conversations for t in c.tickets)
        )
        @rule(data=st.data(), to=st.sampled_from([CLOSED, SPAM]))
        def transition_refused(self, data: st.DataObject, to: TicketStatus) -> None:
            # WHEN an agent acts on a ticket that is not open (a stale screen)
            done = [t.ticket_id for c in self.conversations for t in c.tickets if t.status != OPEN]
            ticket_id = data.draw(st.sampled_from(done), label="ticket")

            # THEN 409, nothing changes
            with pytest.raises(ConflictError):
                tickets.leave_open(
                    repo, self.workspace_id, ticket_id, to, actor="agent-3", now=self.now
                )

        @rule(step=st.sampled_from(["second", "minute", "window-", "window", "window+", "week"]))
        def advance_clock(self, step: str) -> None:
            # WHEN time passes: within, exactly at or past the reopen window of a close
            window = self.window or DAY
            seconds = {
                "second": 1,
                "minute": 60,
                "window-": window - 1,
                "window": window,
                "window+": window + 1,
                "week": 7 * DAY,
            }[step]
            self.now += timedelta(seconds=seconds)

        # -------------------------------------------------------------- invariants
        @invariant()
        def invariants_hold(self) -> None:
            if not self.ready:
                return
            self._check(self.dirty)
            self.dirty = set()

        def teardown(self) -> None:
            if self.ready:
                self._check({t.ticket_id for c in self.conversations for t in c.tickets})

        def _check(self, deep: set[str]) -> None:
            stored = self.store.tickets_by_status()
            model = {t.ticket_id: t for c in self.conversations for t in c.tickets}
            # every ticket the model knows, and no other, with the model's status and link
            assert set(stored) == set(model)
            for ticket_id, ticket in model.items():
                item = stored[ticket_id]
                assert item["status"] == ticket.status.value
                assert item.get("previous_ticket_id") == ticket.previous
                assert item.get("messages_in", 0) == len(ticket.messages)
            numbers = [item["number"] for item in stored.values()]
            assert len(set(numbers)) == len(numbers), "two tickets with one number"
            # at most one open ticket per conversation, and the guard agrees with the model
            psids = [c.psid for c in self.conversations]
            open_now = assert_one_open_ticket_per_conversation(self.store, psids, stored)
            guards = self.store.conversations(psids)
            for conversation in self.conversations:
                model_open = conversation.open
                assert open_now[conversation.psid] == (model_open and model_open.ticket_id)
                latest = conversation.latest
                guard = guards[conversation.psid]
                assert guard.get("latest_ticket_id") == (latest and latest.ticket_id)
                assert guard.get("latest_ticket_status") == (latest and latest.status.value)
            # each changed ticket: exactly its messages (once each) and its full history
            for ticket_id in deep:
                ticket = model[ticket_id]
                assert Counter(self.store.messages(ticket_id)) == Counter(ticket.messages)
                history = self.store.history(ticket_id)
                assert history == ticket.history
                assert_history_tells_the_story(history, stored[ticket_id])

    return TicketStateMachine


def test_ticket_state_machine_keeps_every_invariant(ddb_client, table_name):
    # GIVEN / WHEN / THEN: see TicketStateMachine (a fresh workspace per example)
    run_state_machine_as_test(  # type: ignore[no-untyped-call]
        make_machine(ddb_client, table_name),
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# ---------------------------------------------------------------------------- concurrent variant
@dataclass
class Tally:
    """What the threads were told, to be accounted for by what is stored."""

    accepted: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (event, actor)
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.mark.parametrize("window", [DAY, None], ids=["reopen-window-24h", "reopen-off"])
def test_threads_mixing_messages_and_closes_keep_the_invariants(ddb_client, table_name, window):
    # GIVEN one conversation in a fresh workspace, 6 customer-message threads (new messages and
    # redeliveries of their own), 2 agents closing and, in the last second, 1 marking spam
    workspace_id, page_id, psid = unique("ws-smc-"), unique("page-smc-"), unique("psid-")
    repo = DynamoTicketRepository(ddb_client, table_name)
    repo.put_workspace(WorkspaceSettings(workspace_id=workspace_id, reopen_window_seconds=window))
    store = Store(ddb_client, table_name, workspace_id, page_id)
    tally = Tally()
    stop = threading.Event()
    began = time.monotonic()

    def now() -> datetime:  # a shared clock running 60x real time, passed to every call
        return T0 + timedelta(seconds=(time.monotonic() - began) * 60)

    def customer(n: int) -> None:
        rng = random.Random(n)
        mine: list[str] = []
        pending: str | None = None  # refused (503): the channel sends it again
        while not stop.is_set():
            if pending is not None:
                mid = pending
            elif mine and rng.random() < 0.25:
                mid = rng.choice(mine)  # a redelivery
            else:
                mid = unique(f"mid-{n}-")
            command = CustomerMessageReceived(
                channel=Channel.MESSENGER,
                account_id=page_id,
                customer_id=psid,
                channel_message_id=mid,
                sent_at=now(),
                text="hello",
            )
            try:
                result = ingest_customer_message(repo, workspace_id, command, now())
            except StorageUnavailableError:
                pending = mid  # not accepted (kept conflicting)
                continue
            pending = None
            with tally.lock:
                tally.outcomes[result.outcome] += 1
                if result.outcome == "duplicate":
                    assert mid in mine or mid in tally.accepted
                tally.accepted.add(mid)
            mine.append(mid)

    def agent(actor: str, to: TicketStatus, start_after: float = 0.0) -> None:
        stop.wait(start_after)
        while not stop.is_set():
            conversation = repo.get_conversation(workspace_id, store.conversation_id(psid))
            if conversation is None or conversation.open_ticket_id is None:
                time.sleep(0.002)
                continue
            try:
                tickets.leave_open(
                    repo, workspace_id, conversation.open_ticket_id, to, actor=actor, now=now()
                )
            except (ConflictError, PreconditionFailedError):
                with tally.lock:
                    tally.refused += 1  # raced (another agent, a reopen): refused, nothing changed
                continue
            event = "closed" if to is CLOSED else "marked_spam"
            with tally.lock:
                tally.transitions[(event, actor)] += 1
            time.sleep(0.05)

    def guarded(target: Any, *args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:  # surfaced by the test, never lost in a thread
            tally.errors.append(repr(exc))

    threads = [threading.Thread(target=guarded, args=(customer, n)) for n in range(6)]
    threads += [
        threading.Thread(target=guarded, args=(agent, "agent-1", CLOSED)),
        threading.Thread(target=guarded, args=(agent, "agent-2", CLOSED)),
        # spam comes last: a conversation whose latest ticket is spam stays there
        threading.Thread(target=guarded, args=(agent, "agent-spam", SPAM, 2.2)),
    ]

    # WHEN they all run at once
    for thread in threads:
        thread.start()
    time.sleep(3.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    # THEN nothing went wrong in a thread, and there was real contention
    assert not tally.errors, tally.errors
    assert tally.outcomes["duplicate"] > 0
    assert sum(tally.transitions.values()) > 0
    stored = store.tickets_by_status()
    assert len(stored) == tally.outcomes["created"] >= 1

    # AND at most one open ticket, agreeing with the guard
    assert_one_open_ticket_per_conversation(store, [psid], stored)

    # AND every accepted message exactly once, on exactly one ticket, counted on it
    placed: list[str] = []
    for ticket_id, item in stored.items():
        on_ticket = store.messages(ticket_id)
        assert item.get("messages_in", 0) == len(on_ticket)
        placed.extend(on_ticket)
    assert len(placed) == len(set(placed)), "a message stored twice"
    assert set(placed) == tally.accepted, "a message lost, or stored though refused"

    # AND the histories account for every successful call, each telling a consistent story
    events: Counter[tuple[str, str]] = Counter()
    chain = {item.get("previous_ticket_id") for item in stored.values()}
    for ticket_id, item in stored.items():
        history = store.history(ticket_id)
        assert_history_tells_the_story(history, item)
        events.update((event, actor) for event, actor, _, _ in history)
    assert events[("created", "customer")] == tally.outcomes["created"]
    assert events[("reopened", "customer")] == tally.outcomes["reopened"]
    assert {k: v for k, v in events.items() if k[1] != "customer"} == dict(tally.transitions)
    assert len(chain) == len(stored), "tickets not linked one after another"
    if window is None:
        assert tally.outcomes["reopened"] == 0
