"""Agent replies and the outbox that hands them to the channel senders (README: "Replies and the
outbox").

A reply is stored as an outbound message and, in the same TransactWriteItems, an outbox item is
put. The table's stream carries the outbox item to an EventBridge Pipe, which puts one
``OutboundMessageRequested`` event on the bus: delivery is at least once, so consumers dedupe on
``idempotency_key`` (the message id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from ticketing.models.records import Channel

OUTBOUND_MESSAGE_REQUESTED = "OutboundMessageRequested"
EVENT_SOURCE = "ticket-engine"
MAX_REPLY_LENGTH = 4096
OPTIONAL_DETAIL_FIELDS = ("comment_id", "last_inbound_at", "reply_token")


class ReplyCommand(BaseModel):
    """An agent's reply to the customer of a ticket."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_REPLY_LENGTH)
    client_message_id: str = Field(
        min_length=1,
        max_length=64,
        description="The agent UI's idempotency key: a retry with the same id on the same ticket"
        " answers the stored message (200) and queues nothing more.",
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class OutboundMessageRequested(BaseModel):
    """The outbox event's detail: everything a channel sender needs, without a read."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: str = Field(description="Consumers dedupe on it (the message id).")
    workspace_id: str
    ticket_id: str
    message_id: str
    conversation_id: str
    contact_id: str
    channel: Channel
    account_id: str
    customer_id: str = Field(description="The customer's id on the channel (PSID, userId, ...).")
    channel_message_id: str = Field(
        description="The stored message's placeholder id (``out:<message_id>``), which keys it"
        " until the channel names its own."
    )
    sender_id: str = Field(description="The agent who wrote it.")
    text: str
    requested_at: datetime
    # Optional fields (issue 8). The pipe's InputTemplate reads every field as a string, so an
    # absent one travels as "" (see _absent_as_empty) and reads back as None.
    comment_id: str | None = Field(
        default=None,
        description="Set for a private reply to a comment (Messenger/Instagram): the recipient.",
    )
    last_inbound_at: datetime | None = Field(
        default=None,
        description="The customer's last message on the ticket when the reply was requested:"
        " the messaging windows are checked from it.",
    )
    reply_token: str | None = Field(
        default=None, description="LINE: the reply token of that last message, if known."
    )

    @field_validator(*OPTIONAL_DETAIL_FIELDS, mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_serializer(mode="wrap")
    def _absent_as_empty(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in OPTIONAL_DETAIL_FIELDS:
            if data.get(name) is None:
                data[name] = ""
        return data


class OutboxItem(BaseModel):
    """One pending event as stored (type ``outbox``); it expires after ``keys.OUTBOX_TTL_DAYS``."""

    model_config = ConfigDict(extra="ignore")

    workspace_id: str
    idempotency_key: str
    source: str = EVENT_SOURCE
    detail_type: str = OUTBOUND_MESSAGE_REQUESTED
    detail: OutboundMessageRequested
    created_at: datetime
    expires_at: int = Field(description="Epoch seconds: DynamoDB TTL removes the item then.")
