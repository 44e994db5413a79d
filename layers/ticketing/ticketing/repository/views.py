"""Inbox view entries (README "Inbox views"): the stream-fed copies of a ticket that make every
view one gsi1 Query.

Each entry is the ticket's stored image plus ``gsi1pk`` = the view's partition and ``gsi1sk`` = the
ticket's activity sort key (``keys.ticket_activity_sort`` of its ``last_activity_at``), so a page
of a view is one Query answered from the entries alone.
Stream records can be delivered more than once and a failed batch is retried from the failed
record, so every write is guarded by the record's sequence number: an entry only moves forward.
A ticket that leaves a view leaves a tombstone (no index keys, the sequence number, a TTL), so a
replayed older record cannot bring the entry back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ticketing.models.records import Ticket
from ticketing.repository import keys
from ticketing.repository.base import Page
from ticketing.repository.dynamodb import DynamoTicketRepository, from_dynamo, to_dynamo
from ticketing.views import views_of

Item = dict[str, Any]

# Attributes of the ticket item that are not copied: its own keys and index keys.
_NOT_COPIED = frozenset({keys.PK, keys.SK, "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"})
SEQUENCE_WIDTH = 40  # stream sequence numbers are decimal strings of up to 40 digits


def sequence_key(sequence_number: str) -> str:
    """A stream sequence number as a string that sorts like the number."""
    return sequence_number.rjust(SEQUENCE_WIDTH, "0")


def view_entries(new_image: Item, sequence_number: str) -> dict[str, Item]:
    """The entries (DynamoDB JSON, by view) a ticket's stored image has in its inbox views."""
    ticket = from_dynamo(new_image)
    workspace_id, ticket_id = str(ticket["workspace_id"]), str(ticket["ticket_id"])
    activity = datetime.fromisoformat(str(ticket["last_activity_at"]))
    copied = {k: v for k, v in new_image.items() if k not in _NOT_COPIED}
    return {
        view: {
            **copied,
            **to_dynamo(keys.view_entry_key(workspace_id, ticket_id, view)),
            "gsi1pk": {"S": keys.view_partition(workspace_id, view)},
            "gsi1sk": {"S": keys.ticket_activity_sort(ticket_id, activity)},
            "type": {"S": "ticket_view"},
            "view": {"S": view},
            "seq": {"S": sequence_key(sequence_number)},
        }
        for view in views_of(ticket)
    }


@dataclass(frozen=True)
class ViewUpdate:
    written: tuple[str, ...]
    removed: tuple[str, ...]
    stale: int  # writes skipped because a newer record had already been applied


class TicketViewStore:
    def __init__(self, repo: DynamoTicketRepository) -> None:
        self._repo = repo

    def apply(self, *, new_image: Item, old_image: Item | None, sequence_number: str) -> ViewUpdate:
        """Bring the view entries of one ticket in line with a stream record's images (both in
        DynamoDB's typed JSON, as the stream carries them)."""
        ticket = from_dynamo(new_image)
        workspace_id, ticket_id = str(ticket["workspace_id"]), str(ticket["ticket_id"])
        entries = view_entries(new_image, sequence_number)
        previous = views_of(from_dynamo(old_image)) if old_image else set()
        seq = {"S": sequence_key(sequence_number)}
        written: list[str] = []
        removed: list[str] = []
        stale = 0
        for view, item in sorted(entries.items()):
            if self._guarded("put_item", Item=item):
                written.append(view)
            else:
                stale += 1
        expires = {"N": str(int(time.time()) + keys.VIEW_TOMBSTONE_TTL_DAYS * 86400)}
        for view in sorted(previous - set(entries)):
            done = self._guarded(
                "update_item",
                Key=to_dynamo(keys.view_entry_key(workspace_id, ticket_id, view)),
                UpdateExpression="SET #type = :tomb, seq = :seq, #ttl = :ttl REMOVE gsi1pk, gsi1sk",
                ExpressionAttributeNames={"#type": "type", "#ttl": keys.TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":tomb": {"S": "ticket_view_tombstone"},
                    ":seq": seq,
                    ":ttl": expires,
                },
            )
            if done:
                removed.append(view)
            else:
                stale += 1
        return ViewUpdate(tuple(written), tuple(removed), stale)

    def _guarded(self, operation: str, **kwargs: Any) -> bool:
        """One write that only moves an entry forward; False when a newer record got there first."""
        condition = "attribute_not_exists(pk) OR seq < :seq"
        if operation == "put_item":
            kwargs["ExpressionAttributeValues"] = {":seq": kwargs["Item"]["seq"]}
        try:
            self._repo._call(
                operation,
                TableName=self._repo.table_name,
                ConditionExpression=condition,
                **kwargs,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def list_view(
        self, workspace_id: str, view: str, *, limit: int, cursor: str | None
    ) -> Page[Ticket]:
        """One page of a view, newest activity first: one Query on gsi1."""
        return self._repo._query_page(
            Ticket,
            index=keys.GSI1,
            partition=keys.view_partition(workspace_id, view),
            limit=limit,
            cursor=cursor,
            forward=False,
        )
