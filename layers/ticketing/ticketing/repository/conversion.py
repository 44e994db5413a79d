"""DynamoDB access of conversions (a comment or review → a DM ticket): built from the ticket
repository's client and table, reusing its item builders and transaction helpers.

- ``load`` reads the conversation guard and the workspace settings in one BatchGetItem.
- ``start_conversation`` is ingest's first-message transaction without a message: conversation
  (``attribute_not_exists``), identity + contact (or a check of the known identity), ticket,
  history, the contact links and the ticket → source link, all or nothing.
- ``create_ticket`` / ``reopen_ticket`` add the ticket → source link to the ticket repository's
  guarded transactions' items.
- ``link_source`` writes the link on its own (joining an open ticket), once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ticketing.errors import StorageUnavailableError
from ticketing.models.records import (
    Contact,
    Conversation,
    HistoryEvent,
    Ticket,
    WorkspaceSettings,
)
from ticketing.repository import keys
from ticketing.repository.base import TicketRepository
from ticketing.repository.dynamodb import (
    DynamoTicketRepository,
    Item,
    _condition_failed,
    _values,
    _workspace_settings,
    from_dynamo,
    to_dynamo,
)


class ConversionStore:
    """The writes a conversion needs beyond the ticket repository's own."""

    def __init__(self, repo: DynamoTicketRepository) -> None:
        self._repo = repo
        self._table = repo.table_name

    @classmethod
    def of(cls, repo: TicketRepository | DynamoTicketRepository) -> ConversionStore:
        if not isinstance(repo, DynamoTicketRepository):
            raise TypeError("conversions need the DynamoDB ticket repository")
        return cls(repo)

    def load(
        self, workspace_id: str, conversation_id: str
    ) -> tuple[Conversation | None, WorkspaceSettings, int]:
        """The conversation guard, the workspace settings and its assignment rules' version:
        one BatchGetItem (strong reads)."""
        conv_key = to_dynamo(keys.conversation_key(workspace_id, conversation_id))
        ws_key = to_dynamo(keys.workspace_key(workspace_id))
        request: dict[str, Any] = {
            self._table: {"Keys": [conv_key, ws_key], "ConsistentRead": True}
        }
        found: list[dict[str, Any]] = []
        for attempt in range(5):
            response = self._repo._call("batch_get_item", RequestItems=request)
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
        settings = (
            _workspace_settings(workspace_id, ws_item)
            if ws_item
            else WorkspaceSettings(workspace_id=workspace_id)
        )
        rules_version = int(ws_item.get("automation_version", 0)) if ws_item else 0
        if conv is not None and "alias_of" in conv:
            # the PSID's conversation key names the comment conversation it was learned on
            target = self._repo.get_conversation(workspace_id, str(conv["alias_of"]))
            return target, settings, rules_version
        return (Conversation.model_validate(conv) if conv else None), settings, rules_version

    def _link_put(
        self, ticket_id: str, workspace_id: str, kind: str, source_id: str, at: datetime
    ) -> Item:
        item = to_dynamo(
            {
                **keys.ticket_source_link_key(workspace_id, ticket_id, kind, source_id),
                "type": "ticket_source",
                "workspace_id": workspace_id,
                "ticket_id": ticket_id,
                "source_kind": kind,
                "source_id": source_id,
                "linked_at": at.isoformat().replace("+00:00", "Z"),
            }
        )
        return self._repo._put(item, "attribute_not_exists(pk)")

    def link_source(
        self, *, workspace_id: str, ticket_id: str, kind: str, source_id: str, at: datetime
    ) -> bool:
        """Link a ticket to a source once; False when the link was already there."""
        put = self._link_put(ticket_id, workspace_id, kind, source_id, at)["Put"]
        try:
            self._repo._call("put_item", **put)
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def start_conversation(
        self,
        *,
        new_contact: Contact | None,
        conversation: Conversation,
        ticket: Ticket,
        history: HistoryEvent,
        source_kind: str,
        source_id: str,
        extra_history: Sequence[HistoryEvent] = (),
    ) -> None:
        """A new conversation with its first ticket and no message (see the module docstring):
        the repository's own transaction, plus the ticket → source link."""
        link = self._link_put(
            ticket.ticket_id, conversation.workspace_id, source_kind, source_id, ticket.created_at
        )
        self._repo.start_conversation(
            new_contact=new_contact,
            conversation=conversation,
            ticket=ticket,
            message=None,
            history=history,
            extra_history=extra_history,
            extra=[("source", link)],
        )

    def create_ticket(
        self,
        *,
        seen: Conversation,
        ticket: Ticket,
        history: HistoryEvent,
        source_kind: str,
        source_id: str,
        extra_history: Sequence[HistoryEvent] = (),
    ) -> None:
        """A new ticket on an existing conversation with no open ticket (the guard re-checked),
        plus the ticket → source link: the repository's own transaction."""
        link = self._link_put(
            ticket.ticket_id, seen.workspace_id, source_kind, source_id, ticket.created_at
        )
        self._repo.create_ticket(
            seen=seen,
            ticket=ticket,
            message=None,
            history=history,
            extra_history=extra_history,
            extra=[("source", link)],
        )

    def record_recipient(
        self,
        *,
        workspace_id: str,
        conversation_id: str,
        alias_conversation_id: str,
        recipient_id: str,
        contact_id: str,
        at: datetime,
    ) -> str:
        """The channel named the customer's messaging id (a PSID) for a conversation keyed by a
        placeholder: put an alias item at the key the PSID's own conversation would have (so the
        customer's next DM is routed to this conversation by ingest's one BatchGetItem), and make
        the PSID the conversation's ``customer_id`` (so replies address it).

        Returns ``aliased`` (written now), ``already_aliased`` (a retry) or
        ``psid_has_conversation`` (the customer already had a DM conversation with the account:
        it is left alone)."""
        repo = self._repo
        stamp = at.isoformat().replace("+00:00", "Z")
        alias = to_dynamo(
            {
                **keys.conversation_key(workspace_id, alias_conversation_id),
                "type": "conversation_alias",
                "workspace_id": workspace_id,
                "alias_of": conversation_id,
                "contact_id": contact_id,
                "customer_id": recipient_id,
                "created_at": stamp,
            }
        )
        outcome = "aliased"
        try:
            repo._call(
                "put_item",
                TableName=self._table,
                Item=alias,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            raw: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
            old = from_dynamo(raw)
            outcome = (
                "already_aliased"
                if old.get("alias_of") == conversation_id
                else "psid_has_conversation"
            )
        repo._call(
            "update_item",
            TableName=self._table,
            Key=to_dynamo(keys.conversation_key(workspace_id, conversation_id)),
            UpdateExpression="SET customer_id = :psid, placeholder_customer_id ="
            " if_not_exists(placeholder_customer_id, customer_id)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=_values({":psid": recipient_id}),
        )
        return outcome
