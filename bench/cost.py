"""DynamoDB cost per operation: exact requests and capacity units (ReturnConsumedCapacity=INDEXES).

Each operation goes through the real handler (webhooks, ticket API) or, for close, the service the
API would call (``services.tickets.leave_open``), with a ``CapacityMeter`` on the handlers' own
client. The handlers are warm: the channel connection is cached, as in a warm Lambda container
(a cold one adds one GetItem of the connection, 0.5 RCU). Each operation is repeated on fresh
ids; the figures must be identical every time, or the run says so.

DynamoDB Local does not price multi-item transactions (nor BatchGetItem misses) as AWS does, so
each operation also carries ``aws_estimate``: the same requests priced item by item by AWS's
documented rules (``bench.aws_units``), with each written item's size and units.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import aws_units, stack
from bench.meter import CapacityMeter

REPEATS = 3
LIST_TICKETS = 30  # open tickets in the workspace whose inbox page of 25 is read
TICKET_MESSAGES = 50  # messages on the ticket that is read


# goals from issue 7: (requests ≤, write units ≤) per operation; None = no goal
GOALS: dict[str, dict[str, float]] = {
    "append": {"max_requests": 2, "max_write_units": 6},
    "create_new_conversation": {"max_requests": 3},
    "create_existing_conversation": {"max_requests": 3},
    "duplicate": {"max_requests": 2, "max_write_units": 0},
}

LABELS = {
    "append": "append a message (open ticket)",
    "create_new_conversation": "create ticket: first message, new conversation",
    "create_existing_conversation": "create ticket on an existing conversation",
    "reopen": "reopen (message within the reopen window)",
    "duplicate": "redelivered (duplicate) message",
    "close": "close a ticket (leave_open)",
    "list_page": "list one inbox page of 25",
    "list_view_page": "list one inbox view page of 25 (unassigned)",
    "project_append": "view projector: one append's ticket record (async, off the hot path)",
    "get_ticket": "get a ticket with 50 messages",
}


def _client() -> Any:
    from ticketing.repository.dynamodb import dynamodb_client

    return dynamodb_client()


RECORDS = {  # sort key → record kind (README: "DynamoDB design")
    "MSG": "message",
    "TICKET": "ticket",
    "CONVERSATION": "conversation",
    "IDENTITY": "identity",
    "CONTACT": "contact",
    "WORKSPACE": "workspace",
    "CONNECTION": "connection",
    "HIST": "history",
}


def _record_kind(key_label: str) -> str:
    sort_key = key_label.rpartition(" | ")[2].split("#")[0]
    return RECORDS.get(sort_key, sort_key or "?")


def _indexes() -> dict[str, tuple[str, str]]:
    from ticketing.repository import keys

    return dict(keys.INDEX_KEYS)


def _aws_estimate(meter: CapacityMeter) -> dict[str, Any]:
    """The same requests priced by AWS's documented rules, item by item (bench.aws_units)."""
    reader = stack.client()

    def fetch(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = reader.get_item(
            TableName=table, Key=key, ConsistentRead=True
        ).get("Item")
        return item

    total_read = total_write = 0.0
    by_target: dict[str, float] = {}
    items: list[str] = []
    for request in meter.requests:
        priced = aws_units.estimate(request, fetch, _indexes())
        total_read += priced["read_units"]
        total_write += priced["write_units"]
        for target, units in priced["by_target"].items():
            by_target[target] = by_target.get(target, 0.0) + units
        for part in priced["parts"]:
            if "units" in part:  # a write
                units = ", ".join(f"{t} {u:g}" for t, u in part["units"].items())
                items.append(
                    f"{request.operation}: {part['kind']} {_record_kind(part['key'])}"
                    f" ({part['size']} B) → {units}"
                )
    return {
        "read_units": total_read,
        "write_units": total_write,
        "by_target": by_target,
        "writes": items,
    }


def _metered(action: Callable[[], Any]) -> dict[str, Any]:
    with CapacityMeter(_client()) as meter:
        action()
    return {**meter.summary(), "aws_estimate": _aws_estimate(meter)}


def _scenarios() -> dict[str, Callable[[], dict[str, Any]]]:
    """Each scenario prepares its own fresh state (unmetered), then meters one operation."""

    def append() -> dict[str, Any]:
        ws = stack.Workspace.create()
        stack.open_ticket(ws, "psid-1")  # also warms the connection cache
        return _metered(lambda: stack.ingest(ws.message("psid-1"), expect="appended"))

    def create_new_conversation() -> dict[str, Any]:
        ws = stack.Workspace.create()
        stack.open_ticket(ws, "psid-0")
        return _metered(lambda: stack.ingest(ws.message("psid-1"), expect="created"))

    def create_existing_conversation() -> dict[str, Any]:
        ws = stack.Workspace.create(reopen_window_seconds=None)
        stack.close(ws, stack.open_ticket(ws, "psid-1"))
        return _metered(lambda: stack.ingest(ws.message("psid-1"), expect="created"))

    def reopen() -> dict[str, Any]:
        ws = stack.Workspace.create()  # default window: 24 h
        stack.close(ws, stack.open_ticket(ws, "psid-1"))
        return _metered(lambda: stack.ingest(ws.message("psid-1"), expect="reopened"))

    def duplicate() -> dict[str, Any]:
        ws = stack.Workspace.create()
        stack.open_ticket(ws, "psid-1")
        event = ws.message("psid-1")
        stack.ingest(event, expect="appended")
        return _metered(lambda: stack.ingest(event, expect="duplicate"))

    def close() -> dict[str, Any]:
        ws = stack.Workspace.create()
        ticket_id = stack.open_ticket(ws, "psid-1")
        return _metered(lambda: stack.close(ws, ticket_id))

    def ticket_image(ws: stack.Workspace, ticket_id: str) -> dict[str, Any]:
        from ticketing.repository import keys
        from ticketing.repository.dynamodb import to_dynamo

        item: dict[str, Any] = _client().get_item(
            TableName=stack.TABLE_NAME,
            Key=to_dynamo(keys.ticket_key(ws.workspace_id, ticket_id)),
            ConsistentRead=True,
        )["Item"]
        return item

    def project(new: dict[str, Any], old: dict[str, Any] | None, seq: int) -> None:
        from ticketing.repository.dynamodb import get_repository
        from ticketing.services import views

        views.project(get_repository(), new_image=new, old_image=old, sequence_number=str(seq))

    def list_page() -> dict[str, Any]:
        ws = stack.Workspace.create()
        for i in range(LIST_TICKETS):
            ticket_id = stack.open_ticket(ws, f"psid-{i}")
            project(ticket_image(ws, ticket_id), None, i + 1)  # the status list is a view too
        event = stack.api_get(ws, "/tickets", "/tickets", query={"status": "open", "limit": "25"})
        return _metered(lambda: stack.call_api(event))

    def list_view_page() -> dict[str, Any]:
        ws = stack.Workspace.create()
        for i in range(LIST_TICKETS):
            ticket_id = stack.open_ticket(ws, f"psid-{i}")
            project(ticket_image(ws, ticket_id), None, i + 1)
        event = stack.api_get(ws, "/tickets", "/tickets", query={"assignee": "none", "limit": "25"})
        return _metered(lambda: stack.call_api(event))

    def project_append() -> dict[str, Any]:
        ws = stack.Workspace.create()
        ticket_id = stack.open_ticket(ws, "psid-1")
        before = ticket_image(ws, ticket_id)
        project(before, None, 1)
        stack.ingest(ws.message("psid-1"), expect="appended")
        after = ticket_image(ws, ticket_id)
        return _metered(lambda: project(after, before, 2))

    def get_ticket() -> dict[str, Any]:
        ws = stack.Workspace.create()
        ticket_id = stack.open_ticket(ws, "psid-1")
        for _ in range(TICKET_MESSAGES - 1):
            stack.ingest(ws.message("psid-1"), expect="appended")
        event = stack.api_get(
            ws,
            f"/tickets/{ticket_id}",
            "/tickets/{ticket_id}",
            query={"messages_limit": str(TICKET_MESSAGES)},
            path_parameters={"ticket_id": ticket_id},
        )
        return _metered(lambda: stack.call_api(event))

    return {
        "append": append,
        "create_new_conversation": create_new_conversation,
        "create_existing_conversation": create_existing_conversation,
        "reopen": reopen,
        "duplicate": duplicate,
        "close": close,
        "list_page": list_page,
        "list_view_page": list_view_page,
        "project_append": project_append,
        "get_ticket": get_ticket,
    }


def _exact(summary: dict[str, Any]) -> tuple[Any, ...]:
    return (
        tuple(summary["operations"]),
        summary["read_units"],
        summary["write_units"],
        tuple(sorted(summary["by_target"].items())),
    )


def _goal(name: str, figures: dict[str, Any]) -> dict[str, Any] | None:
    """Met on DynamoDB Local's figures ("met"), and on the AWS-rule estimate ("met_aws")."""
    goal = GOALS.get(name)
    if goal is None:
        return None
    met = met_aws = figures["requests"] <= goal["max_requests"]
    if "max_write_units" in goal:
        met = met and figures["write_units"] <= goal["max_write_units"]
        met_aws = met_aws and figures["aws_estimate"]["write_units"] <= goal["max_write_units"]
    return {**goal, "met": met, "met_aws": met_aws}


def measure(repeats: int = REPEATS, progress: Any = print) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, scenario in _scenarios().items():
        progress(f"  {name}")
        runs = [scenario() for _ in range(repeats)]
        first = runs[0]
        figures = {
            "label": LABELS[name],
            "requests": first["requests"],
            "operations": first["operations"],
            "read_units": first["read_units"],
            "write_units": first["write_units"],
            "by_target": first["by_target"],
            "read_by_target": first["read_by_target"],
            "write_by_target": first["write_by_target"],
            "calls": first["calls"],
            "aws_estimate": first["aws_estimate"],
            "repeats": repeats,
            "stable": all(_exact(run) == _exact(first) for run in runs),
        }
        if not figures["stable"]:
            figures["variants"] = [run["calls"] for run in runs]
        figures["goal"] = _goal(name, figures)
        results[name] = figures
    return results
