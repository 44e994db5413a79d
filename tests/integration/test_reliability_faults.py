"""Faults injected at the boto3 layer, then the channel's retry: nothing lost, nothing twice,
never two open tickets (issue 7, "Reliability").

Faults are botocore event hooks on the handler's own DynamoDB client
(``ticketing.repository.dynamodb.dynamodb_client()``, rebuilt per test by ``app_env``):

- ``before-send`` (one HTTP attempt): a throttling answer
  (``ProvisionedThroughputExceededException``, ``ThrottlingException``) or a
  ``TransactionCanceledException`` whose ``CancellationReasons`` say ``TransactionConflict``,
  parsed by botocore like DynamoDB's own; or a ``ReadTimeoutError`` / ``ConnectTimeoutError``; or
  a *lost response*: the request really reaches DynamoDB Local, then the caller sees a read
  timeout. Being per attempt, these go through the client's standard retry mode (1 + 4 retries)
  as in AWS — its backoff delay is set to 0 here, nothing else changes.
- ``after-call`` (the whole call, after botocore's retries): a *crash between two writes* — the
  write reached DynamoDB, then a timeout is raised, so the caller thinks it failed though it
  succeeded.

Every scenario goes through the real webhook handler and is judged by reading DynamoDB Local back:
the open list of the workspace, the conversation guard's ``open_ticket_id``, each ticket's
messages (gsi1), its counters and history.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from botocore.httpsession import URLLib3Session
from botocore.retries import standard

from functions.webhook_ingest.app import lambda_handler as ingest_handler
from local import demo
from local.streams import client_for
from tests.helpers import Accounts, FakeLambdaContext, status_list, unique
from ticketing.clock import utc_now
from ticketing.errors import ConflictError, StorageUnavailableError
from ticketing.models import TicketStatus
from ticketing.repository import keys
from ticketing.repository.dynamodb import (
    CLIENT_CONFIG,
    dynamodb_client,
    from_dynamo,
    get_repository,
)
from ticketing.services import ingest, tickets
from ticketing.services.ingest import conversation_id_for

pytestmark = pytest.mark.integration

DYNAMODB_JSON = {"Content-Type": "application/x-amz-json-1.0"}
# CLIENT_CONFIG: standard retry mode; botocore's ``max_attempts`` counts the *retries*, so a call
# is tried 1 + 4 = 5 times before the error reaches the repository.
BOTO_ATTEMPTS = 1 + int(CLIENT_CONFIG.retries["max_attempts"])  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- faults
class _Body:
    """The ``raw`` of a fake HTTP response (botocore reads it with ``stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _error_response(request: AWSPreparedRequest, payload: dict[str, Any]) -> AWSResponse:
    body = json.dumps(payload).encode()
    return AWSResponse(request.url, 400, HTTPHeaders.from_dict(DYNAMODB_JSON), _Body(body))


def _request_body(request: AWSPreparedRequest) -> bytes:
    body = request.body
    if isinstance(body, str):
        return body.encode()
    return bytes(body) if isinstance(body, (bytes, bytearray)) else b""


class SendFault:
    """Fails one HTTP attempt of ``operation`` (``times`` attempts, or every attempt while armed).

    ``kind``: a DynamoDB error code (answered as DynamoDB would: HTTP 400 + JSON error),
    ``TransactionConflict`` (a cancelled transaction), ``ReadTimeoutError``,
    ``ConnectTimeoutError``, or ``lost-response`` (sent for real, then a read timeout).
    """

    def __init__(self, kind: str, operation: str, times: int | None) -> None:
        self.kind = kind
        self.operation = operation
        self.times = times
        self.armed = True
        self.hits = 0
        self._session = URLLib3Session()

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        if not self.armed or (self.times is not None and self.hits >= self.times):
            return None
        self.hits += 1
        if self.kind == "ReadTimeoutError":
            raise ReadTimeoutError(endpoint_url=request.url)
        if self.kind == "ConnectTimeoutError":
            raise ConnectTimeoutError(endpoint_url=request.url)
        if self.kind == "lost-response":
            self._session.send(request)  # DynamoDB applies it ...
            raise ReadTimeoutError(endpoint_url=request.url)  # ... and the answer never arrives
        if self.kind == "TransactionConflict":
            items = json.loads(_request_body(request))["TransactItems"]
            reasons = [{"Code": "None"} for _ in items]
            reasons[-1] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing"}
            return _error_response(
                request,
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "Message": "Transaction cancelled, please refer cancellation reasons",
                    "CancellationReasons": reasons,
                },
            )
        return _error_response(
            request,
            {"__type": f"com.amazonaws.dynamodb.v20120810#{self.kind}", "message": "injected"},
        )


class CrashAfterWrite:
    """The call reaches DynamoDB and succeeds; then the caller gets a read timeout (after
    botocore's retries: nothing retries it). Only calls whose request mentions ``needle``."""

    def __init__(self, needle: str | None) -> None:
        self.needle = needle.encode() if needle else None
        self.armed = True
        self.hits = 0

    def mark(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = params.get("body", b"")
        body = body.encode() if isinstance(body, str) else body
        if self.armed and (self.needle is None or self.needle in body):
            context["crash_after_write"] = True

    def crash(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if context.get("crash_after_write") and http_response.status_code == 200:
            self.hits += 1
            raise ReadTimeoutError(endpoint_url="http://dynamodb (response lost)")


@dataclass
class Injector:
    client: Any
    registered: list[tuple[str, Any]] = field(default_factory=list)

    def send(self, kind: str, operation: str, *, times: int | None = None) -> SendFault:
        fault = SendFault(kind, operation, times)
        self._register(f"before-send.dynamodb.{operation}", fault)
        return fault

    def crash_after(self, operation: str, needle: str | None = None) -> CrashAfterWrite:
        crash = CrashAfterWrite(needle)
        self._register(f"before-call.dynamodb.{operation}", crash.mark)
        self._register(f"after-call.dynamodb.{operation}", crash.crash)
        return crash

    def _register(self, event: str, handler: Any) -> None:
        self.client.meta.events.register(event, handler)
        self.registered.append((event, handler))

    def remove_all(self) -> None:
        for event, handler in self.registered:
            self.client.meta.events.unregister(event, handler)
        self.registered.clear()


@pytest.fixture
def faults(app_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Injector]:
    """Hooks on the handler's client (after app_env reset the caches), removed after the test.
    Retries keep their count; only their sleeping is removed (botocore's backoff, the service's
    jitter between cancelled transactions)."""
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    monkeypatch.setattr(ingest, "_backoff", lambda attempt: None)
    injector = Injector(dynamodb_client())
    assert get_repository().client is injector.client
    yield injector
    injector.remove_all()


# ---------------------------------------------------------------------------- driving
def post(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = ingest_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def message_event(accounts: Accounts, *messages: tuple[str, str]) -> dict[str, Any]:
    """A signed Messenger webhook with one text message per (psid, mid), 1 s apart."""
    return accounts.messenger(
        *(
            accounts.messenger_message(mid, f"text of {mid}", psid=psid, ts=demo.T0 + i * 1000)
            for i, (psid, mid) in enumerate(messages)
        )
    )


def deliver(accounts: Accounts, psid: str, mid: str, expect: str) -> None:
    status, body = post(message_event(accounts, (psid, mid)))
    assert (status, body["outcomes"]) == (200, {expect: 1}), body


def close_open_ticket(accounts: Accounts, psid: str, actor: str = "agent-1") -> str:
    conversation = conversation_item(accounts, psid)
    ticket_id = conversation["open_ticket_id"]
    tickets.leave_open(
        get_repository(),
        accounts.workspace_id,
        ticket_id,
        TicketStatus.CLOSED,
        actor=actor,
        now=utc_now(),
    )
    return str(ticket_id)


# ---------------------------------------------------------------------------- reading back
def _query(client: Any, table: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = client.query(TableName=table, **kwargs)
        items.extend(from_dynamo(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def ticket_list(workspace_id: str, status: TicketStatus) -> list[dict[str, Any]]:
    """The workspace's list of one status (what the inbox reads), as ticket items. Read on a
    client of its own: the faults are injected on the handler's."""
    judge = client_for("dynamodb", dynamodb_client().meta.endpoint_url)
    return status_list(judge, get_repository().table_name, workspace_id, status)


def ticket_messages(workspace_id: str, ticket_id: str) -> list[str]:
    items = _query(
        dynamodb_client(),
        get_repository().table_name,
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={
            ":p": {"S": keys.ticket_messages_partition(workspace_id, ticket_id)}
        },
    )
    return [str(i["channel_message_id"]) for i in items]


def ticket_history(workspace_id: str, ticket_id: str) -> list[dict[str, Any]]:
    return _query(
        dynamodb_client(),
        get_repository().table_name,
        KeyConditionExpression="pk = :p AND begins_with(sk, :h)",
        ExpressionAttributeValues={
            ":p": {"S": keys.ticket_key(workspace_id, ticket_id)[keys.PK]},
            ":h": {"S": "HIST#"},
        },
        ConsistentRead=True,
    )


def conversation_item(accounts: Accounts, psid: str) -> dict[str, Any]:
    conversation_id = conversation_id_for("messenger", accounts.page_id, psid)
    response = dynamodb_client().get_item(
        TableName=get_repository().table_name,
        Key={
            k: {"S": v}
            for k, v in keys.conversation_key(accounts.workspace_id, conversation_id).items()
        },
        ConsistentRead=True,
    )
    return from_dynamo(response["Item"]) if "Item" in response else {}


def assert_invariants(
    accounts: Accounts, psids: list[str], accepted: list[str]
) -> dict[str, dict[str, Any]]:
    """One open ticket at most per conversation, agreeing with its guard; every accepted message
    stored exactly once, on one ticket whose counter agrees. Returns the tickets by id."""
    ws = accounts.workspace_id
    all_tickets = {t["ticket_id"]: t for status in TicketStatus for t in ticket_list(ws, status)}
    open_by_conversation = Counter(t["conversation_id"] for t in ticket_list(ws, TicketStatus.OPEN))
    for psid in psids:
        conversation = conversation_item(accounts, psid)
        conversation_id = conversation_id_for("messenger", accounts.page_id, psid)
        assert open_by_conversation[conversation_id] <= 1, f"two open tickets for {psid}"
        open_ids = [
            t["ticket_id"]
            for t in all_tickets.values()
            if t["conversation_id"] == conversation_id and t["status"] == "open"
        ]
        assert conversation.get("open_ticket_id") == (open_ids[0] if open_ids else None)
    stored: list[str] = []
    for ticket_id, ticket in all_tickets.items():
        on_ticket = ticket_messages(ws, ticket_id)
        assert ticket.get("messages_in", 0) == len(on_ticket), ticket  # counted once each
        stored.extend(on_ticket)
    assert sorted(stored) == sorted(accepted), "a message was lost or stored twice"
    return all_tickets


# ---------------------------------------------------------------------------- scenarios
@dataclass
class Scenario:
    """A customer conversation brought to the state where ``mid`` (the faulted message) lands."""

    name: str
    outcome: str

    def prepare(self, accounts: Accounts, psid: str) -> list[str]:
        """Messages accepted before the fault."""
        if self.name == "new":
            return []
        first = unique("mid-a-")
        deliver(accounts, psid, first, "created")
        if self.name == "reopen":
            close_open_ticket(accounts, psid)  # closed just now: within the 24 h window
        return [first]


NEW = Scenario("new", "created")
APPEND = Scenario("append", "appended")
REOPEN = Scenario("reopen", "reopened")

RETRIED_BY_BOTO = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "ReadTimeoutError",
    "ConnectTimeoutError",
    "lost-response",
)
CASES = [
    pytest.param(kind, operation, scenario, id=f"{kind}-{operation}-{scenario.name}")
    for kind, operation, scenarios in (
        ("ProvisionedThroughputExceededException", "TransactWriteItems", (NEW, APPEND, REOPEN)),
        ("ThrottlingException", "TransactWriteItems", (NEW, APPEND, REOPEN)),
        ("ThrottlingException", "BatchGetItem", (NEW, APPEND)),
        ("ProvisionedThroughputExceededException", "UpdateItem", (NEW,)),
        ("ReadTimeoutError", "TransactWriteItems", (NEW, APPEND, REOPEN)),
        ("ConnectTimeoutError", "BatchGetItem", (NEW, APPEND)),
        ("lost-response", "TransactWriteItems", (NEW, APPEND, REOPEN)),
        ("lost-response", "UpdateItem", (NEW,)),
        ("TransactionConflict", "TransactWriteItems", (NEW, APPEND, REOPEN)),
    )
    for scenario in scenarios
]


@pytest.mark.parametrize(("kind", "operation", "scenario"), CASES)
def test_transient_fault_is_absorbed_and_the_message_stored_once(
    accounts, faults, kind, operation, scenario
):
    # GIVEN a conversation in the scenario's state, and DynamoDB failing the next 3 attempts of
    # one operation (throttles/timeouts: the client's own retries; conflicts: the service's)
    psid = unique("psid-")
    accepted = scenario.prepare(accounts, psid)
    mid = unique("mid-b-")
    fault = faults.send(kind, operation, times=3)

    # WHEN the message's webhook arrives
    status, body = post(message_event(accounts, (psid, mid)))

    # THEN the faults were hit and absorbed: 200, the message routed as without any fault
    assert fault.hits == 3
    assert status == 200, body
    assert body["outcomes"] == {scenario.outcome: 1}
    accepted.append(mid)

    # AND a redelivery of the same request stores nothing more
    status, body = post(message_event(accounts, (psid, mid)))
    assert (status, body["outcomes"]) == (200, {"duplicate": 1})

    # AND the conversation still works: the next message joins the same open ticket
    follow_up = unique("mid-c-")
    deliver(accounts, psid, follow_up, "appended")
    accepted.append(follow_up)
    stored = assert_invariants(accounts, [psid], accepted)
    (open_ticket,) = [t for t in stored.values() if t["status"] == "open"]
    assert ticket_messages(accounts.workspace_id, open_ticket["ticket_id"])[-2:] == [
        mid,
        follow_up,
    ]


@pytest.mark.parametrize(("kind", "operation", "scenario"), CASES)
def test_persistent_fault_is_503_and_the_channels_retry_stores_once(
    accounts, faults, kind, operation, scenario
):
    # GIVEN a conversation in the scenario's state, and DynamoDB failing every attempt of one
    # operation
    psid = unique("psid-")
    accepted = scenario.prepare(accounts, psid)
    mid = unique("mid-b-")
    fault = faults.send(kind, operation)

    # WHEN the message's webhook arrives
    status, body = post(message_event(accounts, (psid, mid)))

    # THEN the channel is told to retry (503, the error shape), after every retry was spent
    assert status == 503, body
    assert body["error"]["code"] == "storage_unavailable"
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    expected_hits = BOTO_ATTEMPTS if kind in RETRIED_BY_BOTO else ingest.MAX_ATTEMPTS
    assert fault.hits == expected_hits
    # (a lost response means the write did land: the channel's retry then finds it stored)
    landed = kind == "lost-response" and operation == "TransactWriteItems"
    assert_invariants(accounts, [psid], accepted + ([mid] if landed else []))

    # WHEN DynamoDB recovers and the channel redelivers the same request
    fault.armed = False
    status, body = post(message_event(accounts, (psid, mid)))

    # THEN 200, and the message is stored exactly once, where it belongs
    assert status == 200, body
    assert body["outcomes"] == {"duplicate" if landed else scenario.outcome: 1}
    accepted.append(mid)
    follow_up = unique("mid-c-")
    deliver(accounts, psid, follow_up, "appended")
    accepted.append(follow_up)
    stored = assert_invariants(accounts, [psid], accepted)
    assert [t["status"] for t in stored.values()].count("open") == 1


@pytest.mark.parametrize("scenario", [NEW, APPEND, REOPEN], ids=lambda s: s.name)
def test_write_that_landed_but_timed_out_is_stored_once(accounts, faults, scenario):
    # GIVEN a conversation in the scenario's state, and the message's transaction answered by a
    # timeout after DynamoDB applied it
    psid = unique("psid-")
    accepted = scenario.prepare(accounts, psid)
    mid = unique("mid-b-")
    crash = faults.crash_after("TransactWriteItems", needle=mid)

    # WHEN the webhook arrives
    status, body = post(message_event(accounts, (psid, mid)))

    # THEN the handler believes it failed (503) though the message is stored, once
    assert crash.hits == 1
    assert status == 503, body
    assert body["error"]["code"] == "storage_unavailable"
    assert_invariants(accounts, [psid], [*accepted, mid])

    # WHEN the channel redelivers it
    crash.armed = False
    status, body = post(message_event(accounts, (psid, mid)))

    # THEN it is recognised as stored: 200, nothing written again
    assert (status, body["outcomes"]) == (200, {"duplicate": 1})
    accepted.append(mid)
    stored = assert_invariants(accounts, [psid], accepted)
    (ticket,) = [t for t in stored.values() if t["status"] == "open"]
    events = [e["event"] for e in ticket_history(accounts.workspace_id, ticket["ticket_id"])]
    expected = {"new": ["created"], "append": ["created"]}.get(
        scenario.name, ["created", "closed", "reopened"]
    )
    assert events == expected


def test_crash_between_the_ticket_number_and_the_ticket_leaves_only_a_gap(accounts, faults):
    # GIVEN a new customer, and the ticket counter's increment answered by a timeout after it
    # was applied (the first of the two writes of a new ticket)
    psid = unique("psid-")
    mid = unique("mid-")
    crash = faults.crash_after("UpdateItem")

    # WHEN the webhook arrives, then is redelivered once DynamoDB answers again
    first_status, first_body = post(message_event(accounts, (psid, mid)))
    crash.armed = False
    second_status, second_body = post(message_event(accounts, (psid, mid)))

    # THEN 503, then 200 "created": one ticket, with the next number (the lost one is a gap)
    assert crash.hits == 1
    assert first_status == 503, first_body
    assert (second_status, second_body["outcomes"]) == (200, {"created": 1}), second_body
    stored = assert_invariants(accounts, [psid], [mid])
    (ticket,) = stored.values()
    assert ticket["number"] == 2


def test_crash_after_one_customer_of_a_batch_stores_each_message_once(accounts, faults):
    # GIVEN a batch for two new customers; the first one's transaction lands, then times out
    customers = [unique("psid-0-"), unique("psid-1-")]
    mids = [unique("mid-0-"), unique("mid-1-")]
    event = message_event(accounts, *zip(customers, mids, strict=True))
    crash = faults.crash_after("TransactWriteItems", needle=mids[0])

    # WHEN it is posted, then redelivered
    first_status, first_body = post(event)
    crash.armed = False
    second_status, second_body = post(event)

    # THEN 503 (the other customer still stored), then 200 with both already there
    assert first_status == 503, first_body
    assert first_body["error"]["details"] == {"failed": 1, "events": 2}
    assert (second_status, second_body["outcomes"]) == (200, {"duplicate": 2})
    stored = assert_invariants(accounts, customers, mids)
    assert sorted(t["status"] for t in stored.values()) == ["open", "open"]


def test_close_that_landed_but_timed_out_is_recorded_once(accounts, faults):
    # GIVEN an open ticket, and the agent's close transaction answered by a timeout after it
    # was applied
    psid = unique("psid-")
    first = unique("mid-a-")
    deliver(accounts, psid, first, "created")
    ticket_id = conversation_item(accounts, psid)["open_ticket_id"]
    crash = faults.crash_after("TransactWriteItems")

    # WHEN the agent closes it, sees the failure and tries again
    with pytest.raises(StorageUnavailableError):
        close_open_ticket(accounts, psid)
    crash.armed = False
    with pytest.raises(ConflictError) as retried:
        tickets.leave_open(
            get_repository(),
            accounts.workspace_id,
            ticket_id,
            TicketStatus.CLOSED,
            actor="agent-1",
            now=utc_now(),
        )

    # THEN the retry is refused (409: it is closed already), and the close is recorded once
    assert retried.value.details["status"] == "closed"
    assert conversation_item(accounts, psid).get("open_ticket_id") is None
    events = [e["event"] for e in ticket_history(accounts.workspace_id, ticket_id)]
    assert events == ["created", "closed"]

    # AND the customer's next message reopens it (within the window), one open ticket
    second = unique("mid-b-")
    deliver(accounts, psid, second, "reopened")
    assert_invariants(accounts, [psid], [first, second])
