"""What channel adapters produce: one channel-neutral command per webhook event."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ticketing.models.records import Attachment, Channel


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True)

    channel: Channel
    account_id: str = Field(min_length=1)


class CustomerMessageReceived(_Command):
    """A customer wrote to the shop: routes to a ticket (append, reopen or create)."""

    kind: Literal["customer_message"] = "customer_message"
    customer_id: str = Field(min_length=1)
    channel_message_id: str = Field(min_length=1, description="The channel's id: the dedupe key.")
    sent_at: datetime
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    customer_name: str | None = None


class OutboundMessageSeen(_Command):
    """The shop wrote to the customer (an echo): stored, never creates or reopens a ticket."""

    kind: Literal["outbound_message"] = "outbound_message"
    customer_id: str = Field(min_length=1)
    channel_message_id: str = Field(min_length=1)
    sent_at: datetime
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    app_id: str | None = None


class IgnoredEvent(_Command):
    """An event we acknowledge and do not store (delivery/read receipts, follows, …)."""

    kind: Literal["ignored"] = "ignored"
    reason: str


class DeliveryStatusReported(_Command):
    """The channel reports on an outbound message (WhatsApp ``statuses[]``). Reports arrive
    unordered: storage moves a message's status forward only (sent → delivered → read; failed)."""

    kind: Literal["delivery_status"] = "delivery_status"
    channel_message_id: str = Field(min_length=1, description="The outbound message's channel id.")
    status: Literal["sent", "delivered", "read", "failed"]
    at: datetime = Field(description="The channel's timestamp of the status change.")
    error: str | None = Field(default=None, description="Why it failed (code: title), if given.")


class MessageDeleted(_Command):
    """A message was unsent on the channel (Instagram ``is_deleted``): mark it, never drop it."""

    kind: Literal["message_deleted"] = "message_deleted"
    customer_id: str = Field(min_length=1)
    channel_message_id: str = Field(min_length=1)
    at: datetime


ChannelCommand = (
    CustomerMessageReceived
    | OutboundMessageSeen
    | IgnoredEvent
    | DeliveryStatusReported
    | MessageDeleted
)
