"""Delivery state of outbound messages (issue 8), on the message items themselves.

A reply is stored keyed by its placeholder ``out:<message_id>`` with ``delivery_status =
sending``. The sender:

1. **claims** it before calling the channel: one conditional UpdateItem sets an attempt marker
   (``send_attempt_id``, ``send_attempt_at``) only if the message is still ``sending`` and has
   none. A redelivered SQS message that finds a marker knows a previous attempt may have reached
   the channel (it crashed or timed out before recording the outcome);
2. records the outcome: **sent** re-keys the message under the channel's own id in one
   TransactWriteItems (Put the message at ``MSG#…#<channel id>``, status ``sent``, ticket index
   kept; Update the placeholder to a pointer: ``moved_to``, out of the ticket's index), so delivery
   receipts, deletions and echoes, which all address messages by channel id, find it with the
   existing code; **failed** sets the status and reason on the placeholder (still listed);
   a retryable failure **releases** the claim for the next SQS delivery.

Every write is conditional: a concurrent or late attempt can never move a message backwards.
Cost: claim 1 write (~1 WCU per KB), sent 2 transactional writes (2 x 2 WCU per KB), failed or
release 1 write; no reads (the claim returns the item).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError

from ticketing.errors import StorageUnavailableError
from ticketing.models.records import DELIVERY_RANK, Channel, DeliveryStatus
from ticketing.repository import keys
from ticketing.repository.base import TicketRepository
from ticketing.repository.dynamodb import DynamoTicketRepository, from_dynamo, to_dynamo

ClaimState = Literal["claimed", "missing", "done", "in_flight"]
INDEX_ATTRIBUTES = ("gsi1pk", "gsi1sk")
ATTEMPT_ATTRIBUTES = ("send_attempt_id", "send_attempt_at")


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Claim:
    """``claimed``: this attempt owns the send (``item`` is the message as stored). ``missing``:
    no such message. ``done``: its outcome is already recorded. ``in_flight``: another attempt
    holds it (``item`` has its ``send_attempt_at``)."""

    state: ClaimState
    item: dict[str, Any] | None = None

    @property
    def attempt_at(self) -> str | None:
        value = (self.item or {}).get("send_attempt_at")
        return str(value) if value else None


class DeliveryRepository:
    def __init__(self, repo: DynamoTicketRepository) -> None:
        self._repo = repo
        self._table = repo.table_name

    @classmethod
    def of(cls, repo: TicketRepository | DynamoTicketRepository) -> DeliveryRepository | None:
        """The delivery store beside a ticket repository (None for one that is not DynamoDB)."""
        return cls(repo) if isinstance(repo, DynamoTicketRepository) else None

    def _key(
        self, workspace_id: str, channel: Channel, account_id: str, channel_message_id: str
    ) -> dict[str, Any]:
        return to_dynamo(keys.message_key(workspace_id, channel, account_id, channel_message_id))

    # ------------------------------------------------------------------ claim / release
    def claim(
        self,
        *,
        workspace_id: str,
        channel: Channel,
        account_id: str,
        channel_message_id: str,
        attempt_id: str,
        now: datetime,
        previous_attempt_id: str | None = None,
    ) -> Claim:
        """Take the send. With ``previous_attempt_id``, take it over from that attempt (only for
        channels where repeating a send cannot deliver twice)."""
        if previous_attempt_id is None:
            guard = "attribute_not_exists(send_attempt_id)"
            values: dict[str, Any] = {}
        else:
            guard = "send_attempt_id = :prev"
            values = {":prev": previous_attempt_id}
        try:
            response = self._repo._call(
                "update_item",
                TableName=self._table,
                Key=self._key(workspace_id, channel, account_id, channel_message_id),
                UpdateExpression="SET send_attempt_id = :a, send_attempt_at = :now"
                " ADD send_attempts :one",
                ConditionExpression="attribute_exists(pk) AND delivery_status = :sending"
                f" AND attribute_not_exists(moved_to) AND {guard}",
                ExpressionAttributeValues=to_dynamo(
                    {
                        ":a": attempt_id,
                        ":now": _iso(now),
                        ":one": 1,
                        ":sending": DeliveryStatus.SENDING.value,
                        **values,
                    }
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Any = exc.response.get("Item")
            if not old:
                return Claim("missing")
            item = from_dynamo(old)
            if item.get("moved_to") or item.get("delivery_status") != DeliveryStatus.SENDING:
                return Claim("done", item)
            return Claim("in_flight", item)
        return Claim("claimed", from_dynamo(response["Attributes"]))

    def release(
        self,
        *,
        workspace_id: str,
        channel: Channel,
        account_id: str,
        channel_message_id: str,
        attempt_id: str,
    ) -> bool:
        """Give the send back (nothing reached the channel): the next delivery may try again."""
        return self._update_if(
            self._key(workspace_id, channel, account_id, channel_message_id),
            "REMOVE send_attempt_id, send_attempt_at",
            "send_attempt_id = :a",
            {":a": attempt_id},
        )

    # ------------------------------------------------------------------ outcomes
    def record_failed(
        self,
        *,
        workspace_id: str,
        channel: Channel,
        account_id: str,
        channel_message_id: str,
        reason: str,
        now: datetime,
    ) -> bool:
        """``sending`` → ``failed`` with the reason (False if its outcome was already known)."""
        return self._update_if(
            self._key(workspace_id, channel, account_id, channel_message_id),
            "SET delivery_status = :failed, delivery_rank = :rank, delivery_status_at = :now,"
            " delivery_error = :reason REMOVE send_attempt_id",
            "attribute_exists(pk) AND delivery_status = :sending"
            " AND attribute_not_exists(moved_to)",
            {
                ":failed": DeliveryStatus.FAILED.value,
                ":rank": DELIVERY_RANK[DeliveryStatus.FAILED],
                ":now": _iso(now),
                ":reason": reason[:500],
                ":sending": DeliveryStatus.SENDING.value,
            },
        )

    def record_sent(
        self, *, item: dict[str, Any], channel_message_id: str, now: datetime
    ) -> Literal["sent", "already"]:
        """Re-key the stored message (``item``, as the claim returned it, or as an echo found it)
        under the channel's own id, status ``sent``. ``already``: another writer (the echo of
        this send, or a concurrent attempt) recorded it first."""
        placeholder = str(item["channel_message_id"])
        workspace_id = str(item["workspace_id"])
        channel = Channel(str(item["channel"]))
        account_id = str(item["account_id"])
        moved = {
            k: v
            for k, v in item.items()
            if k not in ATTEMPT_ATTRIBUTES and k not in ("pk", "sk", "delivery_error")
        }
        moved.update(
            keys.message_key(workspace_id, channel, account_id, channel_message_id),
            channel_message_id=channel_message_id,
            placeholder_id=placeholder,
            delivery_status=DeliveryStatus.SENT.value,
            delivery_rank=DELIVERY_RANK[DeliveryStatus.SENT],
            delivery_status_at=_iso(now),
        )
        items: list[tuple[str, dict[str, Any]]] = [
            (
                "message",
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_dynamo(moved),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ),
            (
                "placeholder",
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(workspace_id, channel, account_id, placeholder),
                        "UpdateExpression": "SET moved_to = :id, delivery_status = :sent,"
                        " delivery_rank = :rank, delivery_status_at = :now"
                        " REMOVE gsi1pk, gsi1sk, send_attempt_id, delivery_error",
                        "ConditionExpression": "attribute_exists(pk)"
                        " AND attribute_not_exists(moved_to)",
                        "ExpressionAttributeValues": to_dynamo(
                            {
                                ":id": channel_message_id,
                                ":sent": DeliveryStatus.SENT.value,
                                ":rank": DELIVERY_RANK[DeliveryStatus.SENT],
                                ":now": _iso(now),
                            }
                        ),
                    }
                },
            ),
        ]
        for attempt in range(4):
            failed = self._repo._transact(items)
            if not failed:
                return "sent"
            if failed.get("placeholder") == "ConditionalCheckFailed":
                return "already"  # moved by another writer (the echo, a concurrent attempt)
            if failed.get("message") == "ConditionalCheckFailed":
                # the channel id is already stored (an echo stored as a foreign send): keep that
                # copy and retire the placeholder, so the ticket lists the message once
                try:
                    self._repo._call("update_item", **items[1][1]["Update"])
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != (
                        "ConditionalCheckFailedException"
                    ):
                        raise
                return "already"
            time.sleep(0.02 * 2**attempt)  # a concurrent transaction on an item: try again
        raise StorageUnavailableError("the message kept changing while recording its delivery")

    def get_message_item(
        self, *, workspace_id: str, channel: Channel, account_id: str, channel_message_id: str
    ) -> dict[str, Any] | None:
        """A stored message as its raw item (placeholders included), consistently read."""
        response = self._repo._call(
            "get_item",
            TableName=self._table,
            Key=self._key(workspace_id, channel, account_id, channel_message_id),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return from_dynamo(item) if item else None

    def latest_reply_token(self, workspace_id: str, ticket_id: str) -> str | None:
        """LINE: the reply token of the ticket's newest customer message, if it carried one (one
        Query of the ticket's newest few messages; asked only while a token can still be fresh)."""
        response = self._repo._call(
            "query",
            TableName=self._table,
            IndexName=keys.GSI1,
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues=to_dynamo(
                {":p": keys.ticket_messages_partition(workspace_id, ticket_id)}
            ),
            ScanIndexForward=False,
            Limit=5,
        )
        for raw in response.get("Items", []):
            item = from_dynamo(raw)
            if item.get("direction") == "inbound":
                token = item.get("reply_token")
                return str(token) if token else None
        return None

    # ------------------------------------------------------------------ low level
    def _update_if(
        self, key: dict[str, Any], update: str, condition: str, values: dict[str, Any]
    ) -> bool:
        try:
            self._repo._call(
                "update_item",
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=to_dynamo(values),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
