"""The domain records. Stored items are these models plus keys (see repository/keys.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_REOPEN_WINDOW_SECONDS = 24 * 3600
MIN_REOPEN_WINDOW_SECONDS = 60
MAX_REOPEN_WINDOW_SECONDS = 7 * 24 * 3600
# Auto-close (issue #6): open tickets inactive this long are closed by the scheduled job (which
# runs every 15 minutes, so a shorter threshold would mean nothing); null or 0 = off.
DEFAULT_AUTO_CLOSE_AFTER_SECONDS = 48 * 3600
MIN_AUTO_CLOSE_AFTER_SECONDS = 15 * 60
MAX_AUTO_CLOSE_AFTER_SECONDS = 30 * 24 * 3600


class Channel(StrEnum):
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    WHATSAPP = "whatsapp"
    LINE = "line"
    SHOPEE = "shopee"
    LAZADA = "lazada"


class TicketStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    SPAM = "spam"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DeliveryStatus(StrEnum):
    """Outbound delivery, in the only order it may move: a late report never moves it back."""

    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


DELIVERY_RANK = {
    DeliveryStatus.SENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.FAILED: 4,
}


class AttachmentType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    FILE = "file"
    STICKER = "sticker"
    LOCATION = "location"
    OTHER = "other"


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    DISCONNECTED = "disconnected"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=False)


class Attachment(_Record):
    type: AttachmentType
    url: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    title: str | None = None


class Assignee(_Record):
    """Agent and/or team; both None means unassigned."""

    agent_id: str | None = None
    team_id: str | None = None


WorkspaceId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class WorkspaceSettings(_Record):
    workspace_id: WorkspaceId
    name: str = ""
    reopen_window_seconds: int | None = Field(
        default=DEFAULT_REOPEN_WINDOW_SECONDS,
        description="Closed tickets reopen on a customer message within this window; null = off.",
    )

    @field_validator("reopen_window_seconds")
    @classmethod
    def _window_in_range(cls, value: int | None) -> int | None:
        if value is not None and not (
            MIN_REOPEN_WINDOW_SECONDS <= value <= MAX_REOPEN_WINDOW_SECONDS
        ):
            raise ValueError("reopen window must be between 1 minute and 7 days, or null (off)")
        return value

    auto_close_after_seconds: int | None = Field(
        default=DEFAULT_AUTO_CLOSE_AFTER_SECONDS,
        description="Open tickets inactive this long are closed by automation; null (or 0) = off.",
    )

    @field_validator("auto_close_after_seconds")
    @classmethod
    def _auto_close_in_range(cls, value: int | None) -> int | None:
        if value == 0:
            return None
        if value is not None and not (
            MIN_AUTO_CLOSE_AFTER_SECONDS <= value <= MAX_AUTO_CLOSE_AFTER_SECONDS
        ):
            raise ValueError("auto-close threshold must be between 15 minutes and 30 days, or null")
        return value


class ChannelConnection(_Record):
    """A connected channel account: maps the id channels put in webhooks to a workspace."""

    channel: Channel
    account_id: str = Field(min_length=1, max_length=128)
    workspace_id: WorkspaceId
    display_name: str = ""
    secret_ref: str = Field(
        description="Where the signing secret lives: ssm:/…, secretsmanager:…, local:…"
    )
    status: ConnectionStatus = ConnectionStatus.ACTIVE
    options: dict[str, str] = Field(
        default_factory=dict,
        description="Non-secret channel settings (e.g. Shopee callback_url, Lazada app_key).",
    )


class Contact(_Record):
    workspace_id: str
    contact_id: str
    display_name: str | None = None
    created_at: datetime


class Conversation(_Record):
    """One per contact per channel account. Its item is the per-conversation ticket guard."""

    workspace_id: str
    conversation_id: str
    contact_id: str
    channel: Channel
    account_id: str
    customer_id: str
    created_at: datetime
    open_ticket_id: str | None = None
    latest_ticket_id: str | None = None
    latest_ticket_status: TicketStatus | None = None
    latest_closed_at: datetime | None = None


class Ticket(_Record):
    workspace_id: str
    ticket_id: str
    number: int
    conversation_id: str
    contact_id: str
    channel: Channel
    account_id: str
    status: TicketStatus
    assignee: Assignee = Field(default_factory=Assignee)
    assignee_changed_at: datetime | None = Field(
        default=None, description="When the assignee last changed (assigned or unassigned)."
    )
    fields: dict[str, Any] = Field(default_factory=dict)
    labels: list[str] = Field(default_factory=list)
    created_at: datetime
    last_activity_at: datetime
    status_changed_at: datetime | None = Field(
        default=None, description="When the status last changed (null: not since creation)."
    )
    last_inbound_at: datetime | None = Field(
        default=None,
        description="When the customer's latest message on the ticket was received: the"
        " channels' messaging windows (24 h / 7 days) are checked from it.",
    )
    first_agent_reply_at: datetime | None = None
    closed_at: datetime | None = None
    previous_ticket_id: str | None = None
    reopen_count: int = 0
    messages_in: int = 0
    messages_out: int = 0
    version: int = 1
    # Analytics metrics (services/analytics.py, from the ticket's events; eventually consistent)
    first_response_seconds: int | None = Field(
        default=None, description="Creation → the first outbound message, in seconds."
    )
    resolution_seconds: int | None = Field(
        default=None, description="Creation → the latest close, in seconds."
    )


class Message(_Record):
    workspace_id: str
    message_id: str
    ticket_id: str
    conversation_id: str
    channel: Channel
    account_id: str
    direction: Direction
    channel_message_id: str
    sender_id: str
    text: str | None = None
    text_truncated: bool = Field(
        default=False,
        description="The channel sent more than Ticket Engine stores (``MAX_STORED_TEXT_CHARS``);"
        " the stored text is its beginning.",
    )
    attachments: list[Attachment] = Field(default_factory=list)
    sent_at: datetime = Field(description="The channel's own timestamp of the message.")
    received_at: datetime = Field(description="When Ticket Engine stored it.")
    delivery_status: DeliveryStatus | None = Field(
        default=None, description="Outbound only: the furthest delivery status reported."
    )
    delivery_status_at: datetime | None = None
    delivery_error: str | None = None
    deleted_at: datetime | None = Field(
        default=None, description="Set when the customer unsent it; the message is kept."
    )
    # LINE: the inbound event's reply token (short-lived, single use). Stored on the item for
    # outbound delivery, never part of an API answer (exclude=True; the repository writes it).
    reply_token: str | None = Field(default=None, exclude=True)


class HistoryEvent(_Record):
    workspace_id: str
    ticket_id: str
    event_id: str
    event: str
    actor: str
    at: datetime
    from_status: TicketStatus | None = None
    to_status: TicketStatus | None = None
    detail: str | None = None


class RejectedRequest(_Record):
    """A webhook body we refused (malformed, oversized): kept 14 days for inspection."""

    channel: str
    reason: str
    message: str
    received_at: datetime
    headers: dict[str, str] = Field(default_factory=dict)
    body_size: int
    body: bytes = Field(description="The raw body (truncated), as received.")
