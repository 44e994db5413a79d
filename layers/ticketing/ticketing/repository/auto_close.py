"""DynamoDB access of the scheduled auto-close (README "Auto-close").

- Candidates: one Query of the ``open`` status view's entries (gsi1 ``WS#<ws>#VIEW#open``) with
  ``gsi1sk < <cutoff ms>``, ascending: open tickets of the workspace, least recent activity first,
  only those due. Its cost follows the due tickets, not the workspace's closed/spam history or its
  fresh open tickets. Entries follow the tickets through the stream, so one can be behind its
  ticket: the close's guard, not the entry, decides.
- The close: the repository's ``leave_open`` (the one open → closed transaction with the
  conversation guard and the history event), conditional on the ticket's version and on the
  exact ``last_activity_at`` the entry carried: a message (or agent action) since then makes it
  fail.
- The checkpoint: where a run that ran out of time stopped (workspace and index position), so the
  next run starts there and every workspace gets its turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ticketing.models.records import HistoryEvent, Ticket, TicketStatus
from ticketing.repository import keys
from ticketing.repository.dynamodb import DynamoTicketRepository, from_dynamo, to_dynamo
from ticketing.views import status_view

IndexKey = dict[str, Any]  # an entry's position in gsi1: pk, sk, gsi1pk, gsi1sk (DynamoDB JSON)


@dataclass(frozen=True)
class DueTicket:
    ticket: Ticket
    activity: str  # the ticket's last_activity_at as stored, as the entry carried it
    position: IndexKey  # ExclusiveStartKey that resumes right after this ticket


@dataclass(frozen=True)
class DuePage:
    tickets: list[DueTicket]
    last_key: IndexKey | None


@dataclass(frozen=True)
class Checkpoint:
    workspace_id: str
    position: IndexKey | None  # inside that workspace's due tickets; None = from its oldest


class AutoCloseStore:
    """Built from the ticket repository: same client, table and error handling."""

    def __init__(self, repo: DynamoTicketRepository) -> None:
        self._repo = repo
        self._table = repo.table_name

    def due_tickets(
        self, workspace_id: str, cutoff: datetime, *, limit: int, start_key: IndexKey | None
    ) -> DuePage:
        """Open tickets whose last activity is before ``cutoff``, oldest first: one Query."""
        before = keys.ticket_activity_before(cutoff)
        partition = keys.view_partition(workspace_id, status_view(TicketStatus.OPEN))
        if start_key and (
            start_key.get("gsi1pk", {}).get("S") != partition
            or start_key.get("gsi1sk", {}).get("S", "") >= before
        ):
            # a checkpoint past this run's cutoff (the threshold grew), or one not of this list:
            # nothing due after it, and DynamoDB refuses a start key outside the key condition
            return DuePage([], None)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.GSI1,
            "KeyConditionExpression": "gsi1pk = :p AND gsi1sk < :cutoff",
            "ExpressionAttributeValues": to_dynamo({":p": partition, ":cutoff": before}),
            "ScanIndexForward": True,
            "Limit": limit,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        response = self._repo._call("query", **kwargs)
        found = []
        for raw in response.get("Items", []):
            position = {name: raw[name] for name in (keys.PK, keys.SK, *keys.INDEX_KEYS[keys.GSI1])}
            found.append(
                DueTicket(
                    ticket=Ticket.model_validate(from_dynamo(raw)),
                    activity=raw["last_activity_at"]["S"],
                    position=position,
                )
            )
        return DuePage(found, response.get("LastEvaluatedKey"))

    def close(self, due: DueTicket, *, history: HistoryEvent, now: datetime) -> None:
        """open → closed if the ticket is still at the version and activity the Query saw.
        Raises the repository's GuardFailedError subclasses when it is not."""
        ticket = due.ticket
        self._repo.leave_open(
            workspace_id=ticket.workspace_id,
            conversation_id=ticket.conversation_id,
            ticket_id=ticket.ticket_id,
            to_status=TicketStatus.CLOSED,
            history=history,
            now=now,
            expected_version=ticket.version,
            expected_activity_at=due.activity,
        )

    # ------------------------------------------------------------------ checkpoint
    def get_checkpoint(self) -> Checkpoint | None:
        response = self._repo._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.AUTO_CLOSE_CHECKPOINT),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        position = item.get("position", {}).get("M")
        return Checkpoint(item["workspace_id"]["S"], position or None)

    def save_checkpoint(self, checkpoint: Checkpoint, *, now: datetime) -> None:
        item: dict[str, Any] = {
            **to_dynamo(keys.AUTO_CLOSE_CHECKPOINT),
            "type": {"S": "auto_close_checkpoint"},
            "workspace_id": {"S": checkpoint.workspace_id},
            "saved_at": {"S": now.isoformat().replace("+00:00", "Z")},
        }
        if checkpoint.position:
            item["position"] = {"M": checkpoint.position}
        self._repo._call("put_item", TableName=self._table, Item=item)

    def clear_checkpoint(self) -> None:
        self._repo._call(
            "delete_item", TableName=self._table, Key=to_dynamo(keys.AUTO_CLOSE_CHECKPOINT)
        )
