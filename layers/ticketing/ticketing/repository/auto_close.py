"""DynamoDB access of the scheduled auto-close (README "Auto-close").

- Candidates: one Query on gsi2 ``WS#<ws>#STATUS#open`` with ``gsi2sk < <cutoff ms>``, ascending:
  open tickets of the workspace, least recent activity first, only those due. Its cost follows
  the due tickets, not the workspace's closed/spam history or its fresh open tickets.
- The close: the repository's ``leave_open`` (the one open → closed transaction with the
  conversation guard and the history event), conditional on the ticket's version and on the
  exact gsi2 sort key the Query saw: a message (or agent action) since then makes it fail.
- The checkpoint: where a run that ran out of time stopped (workspace and index position), so the
  next run starts there and every workspace gets its turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ticketing.clock import from_ms
from ticketing.models.records import HistoryEvent, Ticket, TicketStatus
from ticketing.repository import keys
from ticketing.repository.dynamodb import DynamoTicketRepository, from_dynamo, to_dynamo

IndexKey = dict[str, Any]  # an item's position in gsi2: pk, sk, gsi2pk, gsi2sk (DynamoDB JSON)


@dataclass(frozen=True)
class DueTicket:
    ticket: Ticket
    activity_sort: str  # the gsi2 sort key the Query saw: "<ms>#<ticket id>"
    position: IndexKey  # ExclusiveStartKey that resumes right after this ticket

    @property
    def seen_activity(self) -> datetime:
        """The activity time encoded in the sort key (what the close is conditional on)."""
        return from_ms(int(self.activity_sort.split("#", 1)[0]))


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
        if start_key and start_key["gsi2sk"]["S"] >= before:
            # a checkpoint past this run's cutoff (the threshold grew): nothing due after it, and
            # DynamoDB refuses a start key outside the key condition
            return DuePage([], None)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.GSI2,
            "KeyConditionExpression": "gsi2pk = :p AND gsi2sk < :cutoff",
            "ExpressionAttributeValues": to_dynamo(
                {
                    ":p": keys.ticket_status_partition(workspace_id, TicketStatus.OPEN),
                    ":cutoff": before,
                }
            ),
            "ScanIndexForward": True,
            "Limit": limit,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        response = self._repo._call("query", **kwargs)
        found = []
        for raw in response.get("Items", []):
            position = {name: raw[name] for name in (keys.PK, keys.SK, *keys.INDEX_KEYS[keys.GSI2])}
            found.append(
                DueTicket(
                    ticket=Ticket.model_validate(from_dynamo(raw)),
                    activity_sort=raw["gsi2sk"]["S"],
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
            expected_activity_at=due.seen_activity,
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
