"""DynamoDB implementation of the repository: every invariant is a conditional write.

- A channel message is stored by a Put guarded by ``attribute_not_exists(pk)`` on a key made of
  the channel's own message id: a redelivery can never store it twice.
- The conversation item is the per-conversation guard: opening a ticket sets ``open_ticket_id``
  under ``attribute_not_exists(open_ticket_id)``, in the same TransactWriteItems as the ticket,
  first message and its history event. Two writers can never both open a ticket.
- A failed guard comes back with the item as the store saw it (``ALL_OLD``), so callers decide again
  without re-reading.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from ticketing.config import get_settings
from ticketing.errors import InvalidCursorError, StorageUnavailableError
from ticketing.ids import ulid
from ticketing.models.records import (
    DELIVERY_RANK,
    Assignee,
    Channel,
    ChannelConnection,
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    HistoryEvent,
    Message,
    RejectedRequest,
    Ticket,
    TicketStatus,
    WorkspaceSettings,
)
from ticketing.repository import keys
from ticketing.repository.base import (
    ConnectionOwnedElsewhereError,
    ConversationChangedError,
    DirectoryRecordMissingError,
    DuplicateMessageError,
    IdentityTakenError,
    Page,
    RecordExistsError,
    RoutingContext,
    TicketStatusChangedError,
    WriteConflictError,
)
from ticketing.views import status_view

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from ticketing.models.annotations import Note, TicketFieldDefinition
    from ticketing.models.people import Agent, Team, TeamMember
    from ticketing.models.replies import OutboxItem

# The agent-side models (notes, fields, people, the outbox) are imported by the methods that use
# them: the webhook function never builds them (cold start, issue 7).

M = TypeVar("M", bound=BaseModel)
Item = dict[str, Any]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Short timeouts: LINE gives a webhook 2 s. Standard retry mode backs off on throttling.
CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=3,
    retries={"mode": "standard", "max_attempts": 4},
)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [_plain(v) for v in value]
    return value


def _condition_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _status_guard(status: TicketStatus, expected_version: int | None) -> tuple[str, dict[str, Any]]:
    """The ticket's transition guard: its status, and its version when the caller (an agent's
    If-Match) saw one."""
    condition = "#status = :from"
    values: dict[str, Any] = {":from": status.value}
    if expected_version is not None:
        condition += " AND version = :seen_version"
        values[":seen_version"] = expected_version
    return condition, values


def to_dynamo(data: Mapping[str, Any]) -> Item:
    # floats are not accepted by the serializer: go through Decimal
    normal = json.loads(json.dumps(data), parse_float=Decimal)
    return {k: _serializer.serialize(v) for k, v in normal.items()}


def from_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _values(values: Mapping[str, Any]) -> Item:
    return to_dynamo(values)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def _workspace_settings(workspace_id: str, item: Mapping[str, Any]) -> WorkspaceSettings:
    """The workspace item may hold only the ticket counter (``allocate_ticket_number`` creates
    it for a workspace never configured): absent settings are the defaults."""
    return WorkspaceSettings.model_validate({"workspace_id": workspace_id, **item})


class DynamoTicketRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @property
    def client(self) -> DynamoDBClient:
        return self._client

    @property
    def table_name(self) -> str:
        return self._table

    # ------------------------------------------------------------------ low level
    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            if _condition_failed(exc):
                raise
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise
            raise StorageUnavailableError(
                "the ticket store is unavailable", details={"operation": operation}
            ) from exc
        except BotoCoreError as exc:
            raise StorageUnavailableError(
                "the ticket store is unavailable", details={"operation": operation}
            ) from exc
        return response

    def _set_if(
        self,
        key: Mapping[str, str],
        changes: Mapping[str, Any],
        condition: str,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """SET ``changes`` on the item at ``key`` if ``condition`` holds: its new image, or None
        when the condition failed (the item is missing or not the caller's)."""
        names = {f"#f{i}": k for i, k in enumerate(changes)}
        sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(changes)))
        bound = {f":v{i}": v for i, v in enumerate(changes.values())} | dict(values or {})
        try:
            response = self._call(
                "update_item",
                TableName=self._table,
                Key=to_dynamo(key),
                UpdateExpression=f"SET {sets}",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_values(bound),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        return from_dynamo(response["Attributes"])

    def _put(self, item: Item, condition: str | None = None, **extra: Any) -> Item:
        put: Item = {"TableName": self._table, "Item": item}
        if condition:
            put["ConditionExpression"] = condition
        put.update(extra)
        return {"Put": put}

    def _transact(self, items: Sequence[tuple[str, Item]]) -> dict[str, str]:
        """Run one TransactWriteItems; on cancellation return {label: reason code} of failures
        and the ALL_OLD items under ``label + ':item'``."""
        try:
            self._call("transact_write_items", TransactItems=[op for _, op in items])
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            failed: dict[str, Any] = {}
            for (label, _), reason in zip(items, reasons, strict=False):
                code = reason.get("Code")
                if code and code != "None":
                    failed[label] = code
                    if "Item" in reason:
                        failed[label + ":item"] = from_dynamo(reason["Item"])
            if not failed:
                raise StorageUnavailableError("the ticket store rejected a transaction") from exc
            return failed
        return {}

    @staticmethod
    def _raise_for(failed: dict[str, Any]) -> None:
        """Turn transaction cancellation reasons into the domain's guard outcomes."""
        if not failed:
            return
        if failed.get("message") == "ConditionalCheckFailed":
            raise DuplicateMessageError()
        if failed.get("conversation") == "ConditionalCheckFailed":
            old = failed.get("conversation:item")
            raise ConversationChangedError(Conversation.model_validate(old) if old else None)
        if failed.get("identity") == "ConditionalCheckFailed":
            old = failed.get("identity:item") or {}
            raise IdentityTakenError(str(old.get("contact_id", "")))
        if failed.get("ticket") == "ConditionalCheckFailed":
            old = failed.get("ticket:item")
            raise TicketStatusChangedError(Ticket.model_validate(old) if old else None)
        raise WriteConflictError({k: v for k, v in failed.items() if isinstance(v, str)})

    # ------------------------------------------------------------------ items
    def _workspace_item(self, settings: WorkspaceSettings) -> Item:
        item = to_dynamo({**keys.workspace_key(settings.workspace_id), **_dump(settings)})
        item["reopen_window_seconds"] = _serializer.serialize(
            settings.reopen_window_seconds
        )  # null = off (absent would mean "default")
        item["auto_close_after_seconds"] = _serializer.serialize(settings.auto_close_after_seconds)
        return item

    def _conversation_item(self, conversation: Conversation) -> Item:
        return to_dynamo(
            {
                **keys.conversation_key(conversation.workspace_id, conversation.conversation_id),
                "type": "conversation",
                **_dump(conversation),
            }
        )

    def _ticket_item(self, ticket: Ticket) -> Item:
        return to_dynamo(
            {
                **keys.ticket_key(ticket.workspace_id, ticket.ticket_id),
                "type": "ticket",
                **_dump(ticket),
            }
        )

    def _contact_conversation_put(self, conversation: Conversation) -> Item:
        """The contact view's link to a conversation (immutable: written once, with it)."""
        item = to_dynamo(
            {
                **keys.contact_conversation_key(
                    conversation.workspace_id,
                    conversation.contact_id,
                    conversation.channel,
                    conversation.account_id,
                    conversation.conversation_id,
                ),
                "type": "contact_conversation",
                "conversation_id": conversation.conversation_id,
            }
        )
        return self._put(item)

    def _contact_ticket_put(self, ticket: Ticket) -> Item:
        """The contact view's link to a ticket (immutable: written once, with the ticket)."""
        item = to_dynamo(
            {
                **keys.contact_ticket_key(
                    ticket.workspace_id, ticket.contact_id, ticket.created_at, ticket.ticket_id
                ),
                "type": "contact_ticket",
                "ticket_id": ticket.ticket_id,
            }
        )
        return self._put(item)

    def _message_put(self, message: Message) -> Item:
        item = to_dynamo(
            {
                **keys.message_key(
                    message.workspace_id,
                    message.channel,
                    message.account_id,
                    message.channel_message_id,
                ),
                **keys.message_index(
                    message.workspace_id, message.ticket_id, message.sent_at, message.message_id
                ),
                "type": "message",
                **_dump(message),
                # LINE reply token: kept on the item for delivery, never in API answers
                **({"reply_token": message.reply_token} if message.reply_token else {}),
            }
        )
        return self._put(item, "attribute_not_exists(pk)")

    def _history_put(self, event: HistoryEvent) -> Item:
        item = to_dynamo(
            {
                **keys.history_key(event.workspace_id, event.ticket_id, event.at, event.event_id),
                "type": "history",
                **_dump(event),
            }
        )
        return self._put(item)

    # ------------------------------------------------------------------ workspace/connections
    def put_workspace(self, settings: WorkspaceSettings) -> None:
        item = self._workspace_item(settings)
        names = {f"#a{i}": k for i, k in enumerate(item) if k not in (keys.PK, keys.SK)}
        sets = ", ".join(f"{n} = :v{i}" for i, n in enumerate(names))
        values = {f":v{i}": item[k] for i, k in enumerate(names.values())}
        self._call(
            "update_item",
            TableName=self._table,
            Key=to_dynamo(keys.workspace_key(settings.workspace_id)),
            UpdateExpression=f"SET {sets}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        self.register_workspace(settings.workspace_id)

    def register_workspace(self, workspace_id: str) -> None:
        """List the workspace in the registry (idempotent) that scheduled jobs page through."""
        self._call(
            "put_item",
            TableName=self._table,
            Item=to_dynamo(
                {
                    **keys.workspace_registry_key(workspace_id),
                    "type": "workspace_registration",
                    "workspace_id": workspace_id,
                }
            ),
        )

    def get_workspace(self, workspace_id: str) -> WorkspaceSettings | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.workspace_key(workspace_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _workspace_settings(workspace_id, from_dynamo(item)) if item else None

    def put_connection(self, connection: ChannelConnection) -> None:
        item = to_dynamo(
            {
                **keys.connection_key(connection.channel, connection.account_id),
                **keys.connection_index(
                    connection.workspace_id, connection.channel, connection.account_id
                ),
                # every connection of a channel, all workspaces (the review pull lists shops)
                **keys.connection_channel_index(connection.channel, connection.account_id),
                "type": "connection",
                **_dump(connection),
            }
        )
        self._call("put_item", TableName=self._table, Item=item)

    def connect_channel(self, connection: ChannelConnection) -> None:
        """Create or re-connect. An account connected to another workspace stays theirs."""
        item = to_dynamo(
            {
                **keys.connection_key(connection.channel, connection.account_id),
                **keys.connection_index(
                    connection.workspace_id, connection.channel, connection.account_id
                ),
                # every connection of a channel, all workspaces (the review pull lists shops)
                **keys.connection_channel_index(connection.channel, connection.account_id),
                "type": "connection",
                **_dump(connection),
            }
        )
        try:
            self._call(
                "put_item",
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR workspace_id = :ws",
                ExpressionAttributeValues=_values({":ws": connection.workspace_id}),
            )
        except ClientError as exc:
            if _condition_failed(exc):
                raise ConnectionOwnedElsewhereError() from exc
            raise

    def update_connection(
        self, workspace_id: str, channel: Channel, account_id: str, changes: Mapping[str, Any]
    ) -> ChannelConnection | None:
        """Apply ``changes`` if the connection belongs to the workspace (else None)."""
        updated = self._set_if(
            keys.connection_key(channel, account_id),
            changes,
            "workspace_id = :ws",
            {":ws": workspace_id},
        )
        return ChannelConnection.model_validate(updated) if updated else None

    def list_connections(
        self, workspace_id: str, limit: int, cursor: str | None
    ) -> Page[ChannelConnection]:
        return self._query_page(
            ChannelConnection,
            index=keys.GSI1,
            partition=keys.connections_partition(workspace_id),
            limit=limit,
            cursor=cursor,
            forward=True,
        )

    def get_connection(self, channel: Channel, account_id: str) -> ChannelConnection | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.connection_key(channel, account_id)),
        )
        item = response.get("Item")
        return ChannelConnection.model_validate(from_dynamo(item)) if item else None

    # ------------------------------------------------------------------ routing
    def load_routing_context(
        self, workspace_id: str, conversation_id: str, message: Message
    ) -> RoutingContext:
        """One BatchGetItem: the conversation guard, the workspace settings and the message key."""
        conv_key = to_dynamo(keys.conversation_key(workspace_id, conversation_id))
        ws_key = to_dynamo(keys.workspace_key(workspace_id))
        msg_key = to_dynamo(
            keys.message_key(
                workspace_id, message.channel, message.account_id, message.channel_message_id
            )
        )
        request: dict[str, Any] = {
            self._table: {
                "Keys": [conv_key, ws_key, msg_key],
                "ConsistentRead": True,
            }
        }
        found: list[dict[str, Any]] = []
        for attempt in range(5):
            response = self._call("batch_get_item", RequestItems=request)
            found.extend(from_dynamo(i) for i in response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.02 * 2**attempt)
        else:
            raise StorageUnavailableError("the ticket store did not answer a read")
        by_pk = {i[keys.PK]: i for i in found}
        conv = by_pk.get(conv_key[keys.PK]["S"])
        ws_item = by_pk.get(ws_key[keys.PK]["S"])
        if conv is not None and "alias_of" in conv:
            # a commenter's PSID learned from a private reply (services/comments.py): the
            # conversation is the comment's; only aliased customers pay this GetItem
            conv = self._aliased_conversation(workspace_id, str(conv["alias_of"]))
        return RoutingContext(
            conversation=Conversation.model_validate(conv) if conv else None,
            workspace=_workspace_settings(workspace_id, ws_item) if ws_item else None,
            message_exists=msg_key[keys.PK]["S"] in by_pk,
            automation_version=int(ws_item.get("automation_version", 0)) if ws_item else 0,
        )

    def _aliased_conversation(self, workspace_id: str, conversation_id: str) -> Item | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.conversation_key(workspace_id, conversation_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return from_dynamo(item) if item else None

    def get_conversation(self, workspace_id: str, conversation_id: str) -> Conversation | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.conversation_key(workspace_id, conversation_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        found = from_dynamo(item) if item else None
        if found is not None and "alias_of" in found:  # a PSID alias (services/comments.py)
            found = self._aliased_conversation(workspace_id, str(found["alias_of"]))
        return Conversation.model_validate(found) if found else None

    def allocate_ticket_number(self, workspace_id: str) -> int:
        """Per-workspace sequence (an atomic counter: numbers are unique, gaps are possible)."""
        response = self._call(
            "update_item",
            TableName=self._table,
            Key=to_dynamo(keys.workspace_key(workspace_id)),
            UpdateExpression="ADD ticket_seq :one",
            ExpressionAttributeValues=_values({":one": 1}),
            ReturnValues="UPDATED_NEW",
        )
        number = int(response["Attributes"]["ticket_seq"]["N"])
        if number == 1:  # a workspace's first ticket: make sure the registry lists it (once)
            self.register_workspace(workspace_id)
        return number

    def start_conversation(
        self,
        *,
        new_contact: Contact | None,
        conversation: Conversation,
        ticket: Ticket,
        message: Message | None,
        history: HistoryEvent,
        extra_history: Sequence[HistoryEvent] = (),
        extra: Sequence[tuple[str, Item]] = (),
    ) -> None:
        """A new conversation (and contact, unless known) with its first ticket, and the message
        that started it (None: a conversion, issue 5): one transaction. ``extra`` adds more items
        (a conversion's ticket → source link)."""
        ws = conversation.workspace_id
        identity_key = to_dynamo(
            keys.identity_key(
                ws, conversation.channel, conversation.account_id, conversation.customer_id
            )
        )
        items: list[tuple[str, Item]] = (
            [] if message is None else [("message", self._message_put(message))]
        )
        items.append(
            (
                "conversation",
                self._put(
                    self._conversation_item(conversation),
                    "attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
            )
        )
        if new_contact is not None:
            identity = {
                **identity_key,
                **to_dynamo(
                    {
                        "type": "identity",
                        "workspace_id": ws,
                        "contact_id": new_contact.contact_id,
                        "channel": conversation.channel.value,
                        "account_id": conversation.account_id,
                        "customer_id": conversation.customer_id,
                    }
                ),
            }
            items.append(
                (
                    "identity",
                    self._put(
                        identity,
                        "attribute_not_exists(pk)",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    ),
                )
            )
            contact = to_dynamo(
                {
                    **keys.contact_key(ws, new_contact.contact_id),
                    "type": "contact",
                    **_dump(new_contact),
                }
            )
            items.append(("contact", self._put(contact, "attribute_not_exists(pk)")))
        else:
            items.append(
                (
                    "identity",
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": identity_key,
                            "ConditionExpression": "contact_id = :c",
                            "ExpressionAttributeValues": _values({":c": conversation.contact_id}),
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                )
            )
        items.append(("ticket", self._put(self._ticket_item(ticket), "attribute_not_exists(pk)")))
        items.append(("history", self._history_put(history)))
        items.append(("contact_conversation", self._contact_conversation_put(conversation)))
        items.append(("contact_ticket", self._contact_ticket_put(ticket)))
        items += self._automation_items(ticket, extra_history)  # assignment automation
        items += extra
        self._raise_for_created(self._transact(items))

    def find_contact_id(
        self, workspace_id: str, channel: Channel, account_id: str, customer_id: str
    ) -> str | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.identity_key(workspace_id, channel, account_id, customer_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return str(from_dynamo(item)["contact_id"]) if item else None

    def _conversation_update(
        self,
        workspace_id: str,
        conversation_id: str,
        update: str,
        condition: str,
        values: Mapping[str, Any],
    ) -> Item:
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_dynamo(keys.conversation_key(workspace_id, conversation_id)),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": _values(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def create_ticket(
        self,
        *,
        seen: Conversation,
        ticket: Ticket,
        message: Message | None,
        history: HistoryEvent,
        extra_history: Sequence[HistoryEvent] = (),
        extra: Sequence[tuple[str, Item]] = (),
    ) -> None:
        """A new ticket on an existing conversation with no open ticket (the guard re-checked),
        with its first message unless None; ``extra`` adds more items to the transaction."""
        values: dict[str, Any] = {":t": ticket.ticket_id, ":open": TicketStatus.OPEN.value}
        if seen.latest_ticket_id is None:
            latest_guard = "attribute_not_exists(latest_ticket_id)"
        else:
            latest_guard = "latest_ticket_id = :prev"
            values[":prev"] = seen.latest_ticket_id
        items: list[tuple[str, Item]] = []
        if message is not None:
            items.append(("message", self._message_put(message)))
        items.append(
            (
                "conversation",
                self._conversation_update(
                    seen.workspace_id,
                    seen.conversation_id,
                    "SET open_ticket_id = :t, latest_ticket_id = :t, latest_ticket_status = :open"
                    " REMOVE latest_closed_at",
                    "attribute_exists(pk) AND attribute_not_exists(open_ticket_id)"
                    f" AND {latest_guard}",
                    values,
                ),
            )
        )
        items.append(("ticket", self._put(self._ticket_item(ticket), "attribute_not_exists(pk)")))
        items.append(("history", self._history_put(history)))
        items.append(("contact_ticket", self._contact_ticket_put(ticket)))
        items += self._automation_items(ticket, extra_history)  # assignment automation
        items += extra
        self._raise_for_created(self._transact(items))

    def _automation_items(
        self, ticket: Ticket, extra_history: Sequence[HistoryEvent]
    ) -> list[tuple[str, Item]]:
        """A new ticket created with an assignee (assignment automation): its history events,
        and the agent's membership of the team checked in the same transaction. (Agents and teams
        are never deleted and were checked when the rule was saved; a membership can go. Checking
        the team in every creation would make it a hot item: concurrent transactions on one item
        conflict.)"""
        ws, assignee = ticket.workspace_id, ticket.assignee
        items = [(f"history{i}", self._history_put(e)) for i, e in enumerate(extra_history, 1)]
        if assignee.agent_id and assignee.team_id:
            member = keys.team_member_key(ws, assignee.team_id, assignee.agent_id)
            items.append(("member", self._exists_check(member)))
        return items

    def _raise_for_created(self, failed: dict[str, Any]) -> None:
        """``_raise_for``, and DirectoryRecordMissingError when only the assignee's membership
        check failed (a guard failure is decided on first: the caller decides again anyway)."""
        guards = ("message", "conversation", "identity", "ticket")
        if failed.get("member") == "ConditionalCheckFailed" and not any(
            failed.get(g) == "ConditionalCheckFailed" for g in guards
        ):
            raise DirectoryRecordMissingError(missing=("member",))
        self._raise_for(failed)

    def reopen_ticket(
        self,
        *,
        seen: Conversation,
        ticket_id: str,
        message: Message | None,
        history: HistoryEvent,
        now: datetime,
        from_status: TicketStatus = TicketStatus.CLOSED,
        expected_version: int | None = None,
    ) -> None:
        """closed (or spam) → open, for the conversation's latest ticket, in one transaction with
        the guard: fails if another ticket is open or a newer one exists."""
        ws = seen.workspace_id
        items: list[tuple[str, Item]] = []
        if message is not None:
            items.append(("message", self._message_put(message)))
        guard = "attribute_not_exists(open_ticket_id) AND latest_ticket_id = :t"
        guard_values: dict[str, Any] = {":t": ticket_id, ":open": TicketStatus.OPEN.value}
        if from_status is TicketStatus.CLOSED and seen.latest_closed_at is not None:
            # the very close the caller decided on (window, history order): not a later one
            guard += " AND latest_closed_at = :seen_closed"
            guard_values[":seen_closed"] = seen.latest_closed_at.isoformat().replace("+00:00", "Z")
        items.append(
            (
                "conversation",
                self._conversation_update(
                    seen.workspace_id,
                    seen.conversation_id,
                    "SET open_ticket_id = :t, latest_ticket_status = :open REMOVE latest_closed_at",
                    guard,
                    guard_values,
                ),
            )
        )
        adds = ["version :one"]
        if from_status is TicketStatus.CLOSED:
            adds.append("reopen_count :one")
        inbound_set = ""
        if message is not None:
            adds.append("messages_in :one")
            inbound_set = ", last_inbound_at = :inbound_at"  # the messaging windows run from it
            guard_inbound = {":inbound_at": message.received_at.isoformat().replace("+00:00", "Z")}
        else:
            guard_inbound = {}
        add = "ADD " + ", ".join(adds)
        condition, guard_values = _status_guard(from_status, expected_version)
        guard_values = {**guard_values, **guard_inbound}
        items.append(
            (
                "ticket",
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_dynamo(keys.ticket_key(ws, ticket_id)),
                        "UpdateExpression": "SET #status = :open, last_activity_at = :now,"
                        f" status_changed_at = :now{inbound_set} REMOVE closed_at {add}",
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": _values(
                            {
                                ":open": TicketStatus.OPEN.value,
                                ":now": now.isoformat().replace("+00:00", "Z"),
                                ":one": 1,
                                **guard_values,
                            }
                        ),
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            )
        )
        items.append(("history", self._history_put(history)))
        self._raise_for(self._transact(items))

    def append_message(
        self, *, message: Message, expected_status: TicketStatus | None, activity_at: datetime
    ) -> None:
        """Store a message on a ticket and bump its activity: two items, one transaction. The
        ticket item has no index keys, so the update moves no index (the inbox views follow it
        through the stream)."""
        ws = message.workspace_id
        inbound = message.direction is Direction.INBOUND
        counter = "messages_in" if inbound else "messages_out"
        first_reply = (
            ", last_inbound_at = :inbound_at"  # the messaging windows run from it
            if inbound
            else ", first_agent_reply_at = if_not_exists(first_agent_reply_at, :now)"
        )
        values: dict[str, Any] = {
            ":now": activity_at.isoformat().replace("+00:00", "Z"),
            ":one": 1,
        }
        if inbound:
            values[":inbound_at"] = message.received_at.isoformat().replace("+00:00", "Z")
        if expected_status is None:
            condition = "attribute_exists(pk)"
        else:
            condition = "#status = :expected"
            values[":expected"] = expected_status.value
        update: Item = {
            "TableName": self._table,
            "Key": to_dynamo(keys.ticket_key(ws, message.ticket_id)),
            "UpdateExpression": f"SET last_activity_at = :now{first_reply} ADD {counter} :one",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": _values(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if expected_status is not None:
            update["ExpressionAttributeNames"] = {"#status": "status"}
        items = [("message", self._message_put(message)), ("ticket", {"Update": update})]
        self._raise_for(self._transact(items))

    # ------------------------------------------------------------------ replies and the outbox
    def add_reply(self, *, message: Message, outbox: OutboxItem) -> Message | None:
        """An agent's outbound message on an open ticket, the ticket's activity (last activity,
        ``messages_out``, first agent reply) and the outbox item: one TransactWriteItems, so the
        reply is never stored without being queued, nor queued without being stored.

        The message key is deterministic (the service derives it from the client's idempotency
        key): when it is already stored, nothing is written and the stored message is returned.
        Returns None when written. Raises TicketStatusChangedError (with the ticket as stored)
        when the ticket is not open."""
        ws = message.workspace_id
        put = self._message_put(message)
        put["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        at = message.received_at
        ticket_update: Item = {
            "Update": {
                "TableName": self._table,
                "Key": to_dynamo(keys.ticket_key(ws, message.ticket_id)),
                "UpdateExpression": "SET last_activity_at = :now,"
                " first_agent_reply_at = if_not_exists(first_agent_reply_at, :now)"
                " ADD messages_out :one",
                "ConditionExpression": "#status = :open",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": _values(
                    {
                        ":now": at.isoformat().replace("+00:00", "Z"),
                        ":one": 1,
                        ":open": TicketStatus.OPEN.value,
                    }
                ),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        outbox_item = to_dynamo(
            {
                **keys.outbox_key(ws, outbox.created_at, outbox.idempotency_key),
                "type": "outbox",
                **_dump(outbox),
            }
        )
        items: list[tuple[str, Item]] = [
            ("message", put),
            ("ticket", ticket_update),
            ("outbox", self._put(outbox_item, "attribute_not_exists(pk)")),
        ]
        failed = self._transact(items)
        if failed.get("message") == "ConditionalCheckFailed":
            stored = failed.get("message:item") or self._get_message(message)
            if stored is not None:
                return Message.model_validate(stored)
        self._raise_for(failed)
        return None

    def _get_message(self, message: Message) -> dict[str, Any] | None:
        key = keys.message_key(
            message.workspace_id, message.channel, message.account_id, message.channel_message_id
        )
        response = self._call(
            "get_item", TableName=self._table, Key=to_dynamo(key), ConsistentRead=True
        )
        item = response.get("Item")
        return from_dynamo(item) if item else None

    def list_outbox(self, workspace_id: str, limit: int, cursor: str | None) -> Page[OutboxItem]:
        """A workspace's outbox items, oldest first (local inspection; the stream delivers them)."""
        from ticketing.models.replies import OutboxItem

        return self._query_page(
            OutboxItem,
            index=None,
            partition=keys.outbox_partition(workspace_id),
            limit=limit,
            cursor=cursor,
            forward=True,
        )

    def leave_open(
        self,
        *,
        workspace_id: str,
        conversation_id: str,
        ticket_id: str,
        to_status: TicketStatus,
        history: HistoryEvent,
        now: datetime,
        expected_version: int | None = None,
        expected_activity_at: str | None = None,
    ) -> None:
        """open → closed or spam: the ticket and the conversation guard change together.
        ``expected_activity_at`` (auto-close: the stored ``last_activity_at`` the caller saw)
        also requires that activity, so a message that arrived since keeps the ticket open."""
        condition, guard_values = _status_guard(TicketStatus.OPEN, expected_version)
        if expected_activity_at is not None:
            condition += " AND last_activity_at = :seen_activity"
            guard_values[":seen_activity"] = expected_activity_at
        stamp = now.isoformat().replace("+00:00", "Z")
        ticket_set = "SET #status = :to, last_activity_at = :now, status_changed_at = :now"
        conv_set = "SET latest_ticket_status = :to"
        if to_status is TicketStatus.CLOSED:
            ticket_set += ", closed_at = :now"
            conv_set += ", latest_closed_at = :now"
        items: list[tuple[str, Item]] = [
            (
                "ticket",
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_dynamo(keys.ticket_key(workspace_id, ticket_id)),
                        "UpdateExpression": ticket_set + " ADD version :one",
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": _values(
                            {
                                ":to": to_status.value,
                                ":now": stamp,
                                ":one": 1,
                                **guard_values,
                            }
                        ),
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ),
            (
                "conversation",
                self._conversation_update(
                    workspace_id,
                    conversation_id,
                    conv_set + " REMOVE open_ticket_id",
                    "open_ticket_id = :t",
                    {":t": ticket_id, ":to": to_status.value}
                    | ({":now": stamp} if to_status is TicketStatus.CLOSED else {}),
                ),
            ),
            ("history", self._history_put(history)),
        ]
        self._raise_for(self._transact(items))

    def change_ticket(
        self,
        *,
        workspace_id: str,
        ticket_id: str,
        set_values: Mapping[str, Any],
        remove: Sequence[str] = (),
        history: HistoryEvent,
        expected_version: int | None = None,
        extra: Sequence[tuple[str, Item]] = (),
    ) -> None:
        """The one way agent edits change a ticket: SET/REMOVE attributes, bump ``version``,
        record the history event — one transaction, guarded by the ticket existing and (with
        If-Match) by the version the agent saw. ``extra`` adds more guarded items (labels'
        index entries, the conversation, …). Raises TicketStatusChangedError with the current
        ticket when the guard fails. An agent action is activity (DOMAIN.md): the ticket's
        ``last_activity_at`` and its inbox position move to the history event's time."""
        set_values = {
            **set_values,
            "last_activity_at": history.at.isoformat().replace("+00:00", "Z"),
        }
        names = {f"#s{i}": k for i, k in enumerate(set_values)}
        names |= {f"#r{i}": k for i, k in enumerate(remove)}
        values = {f":s{i}": v for i, v in enumerate(set_values.values())} | {":one": 1}
        update = "ADD version :one"
        if set_values:
            update = (
                "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(set_values))) + " " + update
            )
        if remove:
            update += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        condition = "attribute_exists(pk)"
        if expected_version is not None:
            condition += " AND version = :seen_version"
            values[":seen_version"] = expected_version
        ticket_update: Item = {
            "Update": {
                "TableName": self._table,
                "Key": to_dynamo(keys.ticket_key(workspace_id, ticket_id)),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": _values(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        items: list[tuple[str, Item]] = [
            ("ticket", ticket_update),
            ("history", self._history_put(history)),
            *extra,
        ]
        self._raise_for(self._transact(items))

    def spam_closed_ticket(
        self,
        *,
        workspace_id: str,
        conversation_id: str,
        ticket_id: str,
        is_latest: bool,
        history: HistoryEvent,
        expected_version: int | None = None,
    ) -> None:
        """closed → spam. The guard is told when it is the latest ticket (future customer
        messages then land on it, unsurfaced); otherwise the guard must still name another."""
        condition, guard_values = _status_guard(TicketStatus.CLOSED, expected_version)
        conv_key = to_dynamo(keys.conversation_key(workspace_id, conversation_id))
        guard: Item
        if is_latest:
            guard = self._conversation_update(
                workspace_id,
                conversation_id,
                "SET latest_ticket_status = :spam",
                "latest_ticket_id = :t AND attribute_not_exists(open_ticket_id)",
                {":t": ticket_id, ":spam": TicketStatus.SPAM.value},
            )
        else:
            guard = {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": conv_key,
                    "ConditionExpression": "latest_ticket_id <> :t",
                    "ExpressionAttributeValues": _values({":t": ticket_id}),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        items: list[tuple[str, Item]] = [
            (
                "ticket",
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_dynamo(keys.ticket_key(workspace_id, ticket_id)),
                        "UpdateExpression": "SET #status = :spam, status_changed_at = :changed"
                        " ADD version :one",
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": _values(
                            {
                                ":spam": TicketStatus.SPAM.value,
                                ":changed": history.at.isoformat().replace("+00:00", "Z"),
                                ":one": 1,
                                **guard_values,
                            }
                        ),
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ),
            ("conversation", guard),
            ("history", self._history_put(history)),
        ]
        self._raise_for(self._transact(items))

    def update_delivery_status(
        self,
        *,
        workspace_id: str,
        channel: Channel,
        account_id: str,
        channel_message_id: str,
        status: DeliveryStatus,
        at: datetime,
        error: str | None,
    ) -> bool:
        """Move an outbound message's status forward only; False if unknown or not newer."""
        values: dict[str, Any] = {
            ":s": status.value,
            ":rank": DELIVERY_RANK[status],
            ":at": at.isoformat().replace("+00:00", "Z"),
        }
        update = "SET delivery_status = :s, delivery_rank = :rank, delivery_status_at = :at"
        if error:
            update += ", delivery_error = :e"
            values[":e"] = error
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=to_dynamo(
                    keys.message_key(workspace_id, channel, account_id, channel_message_id)
                ),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND"
                " (attribute_not_exists(delivery_rank) OR delivery_rank < :rank)",
                ExpressionAttributeValues=_values(values),
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def mark_message_deleted(
        self,
        *,
        workspace_id: str,
        channel: Channel,
        account_id: str,
        channel_message_id: str,
        at: datetime,
    ) -> bool:
        """Mark a stored message as unsent by the customer (kept, never dropped)."""
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=to_dynamo(
                    keys.message_key(workspace_id, channel, account_id, channel_message_id)
                ),
                UpdateExpression="SET deleted_at = :at",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(deleted_at)",
                ExpressionAttributeValues=_values({":at": at.isoformat().replace("+00:00", "Z")}),
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def keep_rejected_request(self, request: RejectedRequest) -> None:
        expires = request.received_at + timedelta(days=keys.REJECTED_TTL_DAYS)
        item = to_dynamo(
            {
                **keys.rejected_key(request.channel, request.received_at, ulid()),
                "type": "rejected_request",
                **request.model_dump(mode="json", exclude={"body"}),
                keys.TTL_ATTRIBUTE: int(expires.timestamp()),
            }
        )
        item["body"] = {"B": request.body}
        self._call("put_item", TableName=self._table, Item=item)

    # ------------------------------------------------------------------ reads
    def get_ticket(self, workspace_id: str, ticket_id: str) -> Ticket | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.ticket_key(workspace_id, ticket_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return Ticket.model_validate(from_dynamo(item)) if item else None

    def _query_page(
        self,
        model: type[M],
        *,
        index: str | None,
        partition: str,
        limit: int,
        cursor: str | None,
        forward: bool,
        sk_prefix: str | None = None,
    ) -> Page[M]:
        pk_name, sk_name = keys.INDEX_KEYS[index] if index else (keys.PK, keys.SK)
        condition = "#p = :p"
        values: dict[str, Any] = {":p": partition}
        names = {"#p": pk_name}
        if sk_prefix is not None:
            condition += " AND begins_with(#s, :s)"
            names["#s"] = sk_name
            values[":s"] = sk_prefix
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _values(values),
            "ScanIndexForward": forward,
            "Limit": limit,
        }
        if index:
            kwargs["IndexName"] = index
        if cursor:
            start = decode_cursor(cursor, index=index, partition=partition)
            if sk_prefix is not None and not start[sk_name]["S"].startswith(sk_prefix):
                raise InvalidCursorError("the page cursor does not belong to this list")
            kwargs["ExclusiveStartKey"] = start
        response = self._call("query", **kwargs)
        items = [model.model_validate(from_dynamo(i)) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return Page(items=items, next_cursor=encode_cursor(last) if last else None)

    def list_tickets(
        self, workspace_id: str, status: TicketStatus, limit: int, cursor: str | None
    ) -> Page[Ticket]:
        """One page of a status list, newest activity first: one Query of the status view's
        entries (gsi1), which follow the tickets through the stream (``repository.views``)."""
        return self._query_page(
            Ticket,
            index=keys.GSI1,
            partition=keys.view_partition(workspace_id, status_view(status)),
            limit=limit,
            cursor=cursor,
            forward=False,
        )

    def list_messages(
        self, workspace_id: str, ticket_id: str, limit: int, cursor: str | None
    ) -> Page[Message]:
        return self._query_page(
            Message,
            index=keys.GSI1,
            partition=keys.ticket_messages_partition(workspace_id, ticket_id),
            limit=limit,
            cursor=cursor,
            forward=True,
        )

    def list_history(self, workspace_id: str, ticket_id: str) -> list[HistoryEvent]:
        events: list[HistoryEvent] = []
        cursor: str | None = None
        while True:
            page = self._query_page(
                HistoryEvent,
                index=None,
                partition=keys.ticket_key(workspace_id, ticket_id)[keys.PK],
                limit=100,
                cursor=cursor,
                forward=True,
                sk_prefix="HIST#",
            )
            events.extend(page.items)
            if page.next_cursor is None:
                return events
            cursor = page.next_cursor

    # ------------------------------------------------------------------ annotations
    def add_note(self, *, note: Note, history: HistoryEvent) -> None:
        """The note item joins the ticket's change transaction (``last_note_at``, version, the
        "note_added" event): no note without its ticket, and none without its history."""
        item = to_dynamo(
            {
                **keys.note_key(note.workspace_id, note.ticket_id, note.created_at, note.note_id),
                "type": "note",
                **_dump(note),
            }
        )
        self.change_ticket(
            workspace_id=note.workspace_id,
            ticket_id=note.ticket_id,
            set_values={"last_note_at": note.created_at.isoformat().replace("+00:00", "Z")},
            history=history,
            extra=[("note", self._put(item, "attribute_not_exists(pk)"))],
        )

    def list_notes(
        self, workspace_id: str, ticket_id: str, limit: int, cursor: str | None
    ) -> Page[Note]:
        from ticketing.models.annotations import Note

        return self._query_page(
            Note,
            index=None,
            partition=keys.ticket_key(workspace_id, ticket_id)[keys.PK],
            limit=limit,
            cursor=cursor,
            forward=True,
            sk_prefix=keys.NOTE_PREFIX,
        )

    def put_ticket_field(self, definition: TicketFieldDefinition) -> None:
        item = to_dynamo(
            {
                **keys.ticket_field_key(definition.workspace_id, definition.key),
                "type": "ticket_field",
                **definition.model_dump(mode="json"),
            }
        )
        self._call("put_item", TableName=self._table, Item=item)

    def list_ticket_fields(self, workspace_id: str) -> list[TicketFieldDefinition]:
        from ticketing.models.annotations import TicketFieldDefinition

        definitions: list[TicketFieldDefinition] = []
        cursor: str | None = None
        while True:
            page = self._query_page(
                TicketFieldDefinition,
                index=None,
                partition=keys.ticket_fields_partition(workspace_id),
                limit=100,
                cursor=cursor,
                forward=True,
                sk_prefix=keys.FIELD_PREFIX,
            )
            definitions.extend(page.items)
            if page.next_cursor is None:
                return definitions
            cursor = page.next_cursor

    # ------------------------------------------------------------------ agents and teams
    def _create(self, item: Item) -> None:
        try:
            self._call(
                "put_item",
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                raise RecordExistsError() from exc
            raise

    def _get(self, model: type[M], key: Mapping[str, str], *, consistent: bool) -> M | None:
        response = self._call(
            "get_item", TableName=self._table, Key=to_dynamo(key), ConsistentRead=consistent
        )
        item = response.get("Item")
        return model.model_validate(from_dynamo(item)) if item else None

    def _exists_check(self, key: Mapping[str, str]) -> Item:
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": to_dynamo(key),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }

    def create_agent(self, agent: Agent) -> None:
        key = keys.agent_key(agent.workspace_id, agent.agent_id)
        self._create(to_dynamo({**key, "type": "agent", **_dump(agent)}))

    def get_agent(self, workspace_id: str, agent_id: str) -> Agent | None:
        from ticketing.models.people import Agent

        return self._get(Agent, keys.agent_key(workspace_id, agent_id), consistent=True)

    def list_agents(self, workspace_id: str, limit: int, cursor: str | None) -> Page[Agent]:
        from ticketing.models.people import Agent

        return self._query_page(
            Agent,
            index=None,
            partition=keys.agents_partition(workspace_id),
            limit=limit,
            cursor=cursor,
            forward=True,
            sk_prefix=keys.AGENT_PREFIX,
        )

    def update_agent(
        self, workspace_id: str, agent_id: str, changes: Mapping[str, Any]
    ) -> Agent | None:
        """SET ``changes`` on an existing agent of the workspace (None if there is none)."""
        from ticketing.models.people import Agent

        updated = self._set_if(
            keys.agent_key(workspace_id, agent_id), changes, "attribute_exists(pk)"
        )
        return Agent.model_validate(updated) if updated else None

    def create_team(self, team: Team) -> None:
        key = keys.team_key(team.workspace_id, team.team_id)
        self._create(to_dynamo({**key, "type": "team", **_dump(team)}))

    def get_team(self, workspace_id: str, team_id: str) -> Team | None:
        from ticketing.models.people import Team

        return self._get(Team, keys.team_key(workspace_id, team_id), consistent=True)

    def list_teams(self, workspace_id: str, limit: int, cursor: str | None) -> Page[Team]:
        from ticketing.models.people import Team

        return self._query_page(
            Team,
            index=None,
            partition=keys.teams_partition(workspace_id),
            limit=limit,
            cursor=cursor,
            forward=True,
            sk_prefix=keys.TEAM_PREFIX,
        )

    def add_team_member(self, member: TeamMember) -> None:
        """Put the membership (idempotent) with the team and the agent checked in the same
        transaction. Raises DirectoryRecordMissingError naming what is missing."""
        ws = member.workspace_id
        item = to_dynamo(
            {
                **keys.team_member_key(ws, member.team_id, member.agent_id),
                "type": "team_member",
                **_dump(member),
            }
        )
        items: list[tuple[str, Item]] = [
            ("member", self._put(item)),
            ("team", self._exists_check(keys.team_key(ws, member.team_id))),
            ("agent", self._exists_check(keys.agent_key(ws, member.agent_id))),
        ]
        failed = self._transact(items)
        missing = tuple(n for n in ("team", "agent") if failed.get(n) == "ConditionalCheckFailed")
        if missing:
            raise DirectoryRecordMissingError(missing=missing)
        self._raise_for(failed)

    def remove_team_member(self, workspace_id: str, team_id: str, agent_id: str) -> bool:
        """False when the agent was not a member."""
        try:
            self._call(
                "delete_item",
                TableName=self._table,
                Key=to_dynamo(keys.team_member_key(workspace_id, team_id, agent_id)),
                ConditionExpression="attribute_exists(pk)",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def list_team_members(self, workspace_id: str, team_id: str) -> list[TeamMember]:
        from ticketing.models.people import TeamMember

        members: list[TeamMember] = []
        cursor: str | None = None
        while True:
            page = self._query_page(
                TeamMember,
                index=None,
                partition=keys.team_members_partition(workspace_id, team_id),
                limit=100,
                cursor=cursor,
                forward=True,
                sk_prefix=keys.MEMBER_PREFIX,
            )
            members.extend(page.items)
            if page.next_cursor is None:
                return members
            cursor = page.next_cursor

    def assign_ticket(
        self,
        *,
        workspace_id: str,
        ticket_id: str,
        assignee: Assignee,
        at: datetime,
        history: HistoryEvent,
        seen_version: int,
    ) -> None:
        """Set the ticket's assignee through ``change_ticket`` (guarded by the version the
        caller read, so the history's from → to is exact), with the agent, the team and the
        membership checked in the same transaction. Raises TicketStatusChangedError (with the
        current ticket) when the ticket moved on, DirectoryRecordMissingError naming what is
        missing ("agent", "team", "member")."""
        checks: list[tuple[str, Item]] = []
        if assignee.agent_id:
            checks.append(
                ("agent", self._exists_check(keys.agent_key(workspace_id, assignee.agent_id)))
            )
        if assignee.team_id:
            checks.append(
                ("team", self._exists_check(keys.team_key(workspace_id, assignee.team_id)))
            )
        if assignee.agent_id and assignee.team_id:
            member = keys.team_member_key(workspace_id, assignee.team_id, assignee.agent_id)
            checks.append(("member", self._exists_check(member)))
        try:
            self.change_ticket(
                workspace_id=workspace_id,
                ticket_id=ticket_id,
                set_values={
                    "assignee": _dump(assignee),
                    "assignee_changed_at": at.isoformat().replace("+00:00", "Z"),
                },
                history=history,
                expected_version=seen_version,
                extra=checks,
            )
        except WriteConflictError as exc:
            missing = tuple(
                n
                for n in ("agent", "team", "member")
                if exc.reasons.get(n) == "ConditionalCheckFailed"
            )
            if missing:
                raise DirectoryRecordMissingError(missing=missing) from exc
            raise

    # ------------------------------------------------------------------ the contact view
    def get_contact(self, workspace_id: str, contact_id: str) -> Contact | None:
        return self._get(Contact, keys.contact_key(workspace_id, contact_id), consistent=False)

    def _batch_get(self, item_keys: Sequence[Mapping[str, str]]) -> dict[str, dict[str, Any]]:
        """Items by pk (eventually consistent reads), unprocessed keys retried."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(item_keys), 100):
            chunk = [to_dynamo(k) for k in item_keys[start : start + 100]]
            request: dict[str, Any] = {self._table: {"Keys": chunk}}
            for attempt in range(5):
                response = self._call("batch_get_item", RequestItems=request)
                for raw in response.get("Responses", {}).get(self._table, []):
                    item = from_dynamo(raw)
                    found[str(item[keys.PK])] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.02 * 2**attempt)
            else:
                raise StorageUnavailableError("the ticket store did not answer a read")
        return found

    def list_contact_conversations(self, workspace_id: str, contact_id: str) -> list[Conversation]:
        """The contact's links (one Query), then the conversations themselves (one BatchGetItem:
        their open/latest ticket are live), in channel/account order."""
        links: list[_ConversationLink] = []
        cursor: str | None = None
        while True:
            page = self._query_page(
                _ConversationLink,
                index=None,
                partition=keys.contact_key(workspace_id, contact_id)[keys.PK],
                limit=100,
                cursor=cursor,
                forward=True,
                sk_prefix=keys.CONTACT_CONV_PREFIX,
            )
            links.extend(page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        wanted = [keys.conversation_key(workspace_id, link.conversation_id) for link in links]
        found = self._batch_get(wanted)
        return [
            Conversation.model_validate(found[key[keys.PK]])
            for key in wanted
            if key[keys.PK] in found
        ]

    def list_contact_tickets(
        self, workspace_id: str, contact_id: str, limit: int, cursor: str | None
    ) -> Page[Ticket]:
        """A page of the contact's ticket links, newest first (one Query), then those tickets
        (one BatchGetItem): cost follows the page, not the contact's history."""
        links = self._query_page(
            _TicketLink,
            index=None,
            partition=keys.contact_key(workspace_id, contact_id)[keys.PK],
            limit=limit,
            cursor=cursor,
            forward=False,
            sk_prefix=keys.CONTACT_TICKET_PREFIX,
        )
        wanted = [keys.ticket_key(workspace_id, link.ticket_id) for link in links.items]
        found = self._batch_get(wanted) if wanted else {}
        tickets = [Ticket.model_validate(found[k[keys.PK]]) for k in wanted if k[keys.PK] in found]
        return Page(items=tickets, next_cursor=links.next_cursor)


class _ConversationLink(BaseModel):
    conversation_id: str


class _TicketLink(BaseModel):
    ticket_id: str


def encode_cursor(last_evaluated_key: Mapping[str, Any]) -> str:
    plain = {k: v["S"] for k, v in last_evaluated_key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, *, index: str | None, partition: str) -> Item:
    """Opaque page tokens: they must name exactly this query's keys and partition (so a token
    can never reach into another workspace or another list)."""
    expected = {keys.PK, keys.SK}
    if index:
        expected |= set(keys.INDEX_KEYS[index])
    pk_name = keys.INDEX_KEYS[index][0] if index else keys.PK
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursorError("the page cursor is not valid") from exc
    if (
        not isinstance(plain, dict)
        or set(plain) != expected
        or not all(isinstance(v, str) for v in plain.values())
        or plain.get(pk_name) != partition
    ):
        raise InvalidCursorError("the page cursor does not belong to this list")
    return {k: {"S": v} for k, v in plain.items()}


@lru_cache(maxsize=1)
def dynamodb_client() -> DynamoDBClient:
    """Built on first use. The endpoint comes from boto3's own AWS_ENDPOINT_URL_DYNAMODB."""
    return boto3.client("dynamodb", config=CLIENT_CONFIG)


@lru_cache(maxsize=1)
def get_repository() -> DynamoTicketRepository:
    return DynamoTicketRepository(dynamodb_client(), get_settings().table_name)
