"""What channel adapters produce: one channel-neutral command per webhook event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ticketing.models.records import Attachment, Channel

# Channel-given ids become parts of DynamoDB keys (a partition key holds at most 2048 bytes, with
# our prefixes and the workspace id around them): a longer one can never be stored, so it is a
# malformed payload, not a storage failure the channel should retry.
MAX_KEY_PART_BYTES = 512


def _fits_in_a_key(value: str) -> str:
    if len(value.encode()) > MAX_KEY_PART_BYTES:
        raise ValueError(f"an id may hold at most {MAX_KEY_PART_BYTES} bytes")
    return value


KeyPart = Annotated[str, Field(min_length=1), AfterValidator(_fits_in_a_key)]


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True)

    channel: Channel
    account_id: KeyPart


class CustomerMessageReceived(_Command):
    """A customer wrote to the shop: routes to a ticket (append, reopen or create)."""

    kind: Literal["customer_message"] = "customer_message"
    customer_id: KeyPart
    channel_message_id: KeyPart = Field(description="The channel's id: the dedupe key.")
    sent_at: datetime
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    customer_name: str | None = None
    reply_token: str | None = Field(
        default=None, description="LINE: the event's short-lived reply token (issue 8)."
    )


class OutboundMessageSeen(_Command):
    """The shop wrote to the customer (an echo): stored, never creates or reopens a ticket."""

    kind: Literal["outbound_message"] = "outbound_message"
    customer_id: KeyPart
    channel_message_id: KeyPart
    sent_at: datetime
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    app_id: str | None = None
    metadata: str | None = Field(
        default=None, description="Messenger: the metadata our send set (te:<message_id>)."
    )


class IgnoredEvent(_Command):
    """An event we acknowledge and do not store (delivery/read receipts, follows, …)."""

    kind: Literal["ignored"] = "ignored"
    reason: str


class DeliveryStatusReported(_Command):
    """The channel reports on an outbound message (WhatsApp ``statuses[]``). Reports arrive
    unordered: storage moves a message's status forward only (sent → delivered → read; failed)."""

    kind: Literal["delivery_status"] = "delivery_status"
    channel_message_id: KeyPart = Field(description="The outbound message's channel id.")
    status: Literal["sent", "delivered", "read", "failed"]
    at: datetime = Field(description="The channel's timestamp of the status change.")
    error: str | None = Field(default=None, description="Why it failed (code: title), if given.")


class MessageDeleted(_Command):
    """A message was unsent on the channel (Instagram ``is_deleted``): mark it, never drop it."""

    kind: Literal["message_deleted"] = "message_deleted"
    customer_id: KeyPart
    channel_message_id: KeyPart
    at: datetime


class CommentEvent(_Command):
    """A public comment on a post (Facebook Page ``feed``, Instagram ``comments``): added,
    edited, removed, hidden or unhidden. Not a message: it goes to the comments area, never to a
    ticket (an agent converts it). Keyed by the channel's comment id."""

    kind: Literal["comment"] = "comment"
    verb: Literal["add", "edited", "remove", "hide", "unhide"]
    comment_id: KeyPart
    post_id: KeyPart = Field(description="The post (Facebook) or media (Instagram) commented.")
    parent_id: str | None = Field(
        default=None, description="The comment replied to, when the comment is a reply."
    )
    author_id: KeyPart | None = Field(
        default=None, description="Facebook: the user's id (not a PSID). Instagram: the IGSID."
    )
    author_name: str | None = None
    text: str | None = None
    at: datetime | None = Field(default=None, description="The channel's time of the event.")
    media_product_type: str | None = Field(default=None, description="Instagram: FEED, AD, …")
    live: bool = Field(default=False, description="Instagram Live comment (``live_comments``).")


ChannelCommand = (
    CustomerMessageReceived
    | OutboundMessageSeen
    | IgnoredEvent
    | DeliveryStatusReported
    | MessageDeleted
    | CommentEvent
)
