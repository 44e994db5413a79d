"""WhatsApp Cloud API (shared/channels.md §2.3): Meta handshake and ``X-Hub-Signature-256``.

Routing is on ``value.metadata.phone_number_id`` (a connection's ``account_id``), not on the WABA
id in ``entry.id``. Changes with another ``field`` are acknowledged as :class:`IgnoredEvent` when
their value names a phone number id. WABA-level changes (template status, account updates, …)
name none: they yield no command and no account, so an unconnected WABA id can never make a
batch fail as "unknown account" (every command's account is one of ``account_ids``).

Media **[uncertain]** (channels.md): messages carry ``{id, mime_type}``; ``GET /<MEDIA_ID>`` gives
a short-lived URL fetched with a bearer token. So attachments hold ``media_id`` and ``mime_type``,
never a URL; fetching is the sender/media service's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ticketing.channels.base import MAX_EPOCH_MS
from ticketing.channels.messenger import MetaAdapter
from ticketing.models.commands import (
    ChannelCommand,
    CustomerMessageReceived,
    DeliveryStatusReported,
    IgnoredEvent,
)
from ticketing.models.records import Attachment, AttachmentType, Channel, ChannelConnection

# WhatsApp timestamps are strings of seconds ("1700000000"); lax int parsing accepts both forms.
Seconds = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS // 1000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WaMetadata(_Model):
    phone_number_id: str = Field(min_length=1)
    display_phone_number: str | None = None


class WaProfile(_Model):
    name: str | None = None


class WaContact(_Model):
    wa_id: str | None = None
    profile: WaProfile | None = None


class WaText(_Model):
    body: str | None = None


class WaMedia(_Model):
    """image, video, audio, document and sticker objects."""

    id: str | None = None
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None
    url: str | None = None  # newer payloads may include one [uncertain]; media_id stays the key


class WaLocation(_Model):
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None


class WaContactName(_Model):
    formatted_name: str | None = None


class WaContactPhone(_Model):
    phone: str | None = None
    wa_id: str | None = None


class WaSharedContact(_Model):
    """An entry of a ``contacts`` message (a vCard the customer shared)."""

    name: WaContactName | None = None
    phones: list[WaContactPhone] = Field(default_factory=list)


class WaReply(_Model):
    id: str | None = None
    title: str | None = None


class WaInteractive(_Model):
    type: str | None = None
    button_reply: WaReply | None = None
    list_reply: WaReply | None = None


class WaButton(_Model):
    text: str | None = None
    payload: str | None = None


class WaReaction(_Model):
    message_id: str | None = None
    emoji: str | None = None


class WaOrder(_Model):
    catalog_id: str | None = None
    text: str | None = None
    product_items: list[dict[str, Any]] = Field(default_factory=list)


class WaSystem(_Model):
    body: str | None = None
    type: str | None = None


class WaMessage(_Model):
    from_: str = Field(alias="from", min_length=1)
    id: str = Field(min_length=1)
    timestamp: Seconds
    type: str
    text: WaText | None = None
    image: WaMedia | None = None
    video: WaMedia | None = None
    audio: WaMedia | None = None
    document: WaMedia | None = None
    sticker: WaMedia | None = None
    location: WaLocation | None = None
    contacts: list[WaSharedContact] = Field(default_factory=list)
    interactive: WaInteractive | None = None
    button: WaButton | None = None
    reaction: WaReaction | None = None
    order: WaOrder | None = None
    system: WaSystem | None = None


class WaError(_Model):
    code: int | str | None = None
    title: str | None = None
    message: str | None = None


class WaStatus(_Model):
    id: str = Field(min_length=1)
    status: str
    timestamp: Seconds
    recipient_id: str | None = None
    errors: list[WaError] = Field(default_factory=list)


class WaMessagesValue(_Model):
    """``value`` of a ``field: "messages"`` change."""

    messaging_product: str | None = None
    metadata: WaMetadata
    contacts: list[WaContact] = Field(default_factory=list)
    messages: list[WaMessage] = Field(default_factory=list)
    statuses: list[WaStatus] = Field(default_factory=list)


class WaChange(_Model):
    field: str
    value: WaMessagesValue | None = None
    # for other fields: the phone number id their value names, if any (shape unknown, not validated)
    other_phone_number_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _validate_messages_only(cls, data: Any) -> Any:
        """Only ``messages`` changes are ours to validate; others are acknowledged, not parsed."""
        if not isinstance(data, dict):
            return data
        field, value = data.get("field"), data.get("value")
        if field == "messages":
            return {"field": field, "value": value}
        phone_number_id = None
        if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
            candidate = value["metadata"].get("phone_number_id")
            if isinstance(candidate, str) and candidate:
                phone_number_id = candidate
        return {"field": field, "value": None, "other_phone_number_id": phone_number_id}


class WaEntry(_Model):
    id: str = Field(min_length=1)
    changes: list[WaChange] = Field(default_factory=list)


class WhatsAppWebhook(_Model):
    object: Literal["whatsapp_business_account"]
    entry: list[WaEntry]


def seconds_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


_MEDIA = {
    "image": AttachmentType.IMAGE,
    "video": AttachmentType.VIDEO,
    "audio": AttachmentType.AUDIO,
    "document": AttachmentType.FILE,
    "sticker": AttachmentType.STICKER,
}

_STATUSES: dict[str, Literal["sent", "delivered", "read", "failed"]] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}

# Not customer speech: acknowledged, never a ticket.
_NOT_MESSAGES = {"system", "request_welcome", "ephemeral"}


def _other(title: str) -> Attachment:
    return Attachment(type=AttachmentType.OTHER, title=title)


def message_content(message: WaMessage) -> tuple[str | None, tuple[Attachment, ...]]:
    """Text and attachments of one inbound message, by ``type``."""
    kind = message.type
    if kind == "text":
        return (message.text.body if message.text else None), ()
    if kind in _MEDIA:
        media: WaMedia | None = getattr(message, kind)
        if media is None:
            return None, (Attachment(type=_MEDIA[kind]),)
        return media.caption, (
            Attachment(
                type=_MEDIA[kind],
                media_id=media.id,
                mime_type=media.mime_type,
                title=media.filename,
                url=media.url,
            ),
        )
    if kind == "location":
        loc = message.location
        if loc is None:
            return None, (Attachment(type=AttachmentType.LOCATION),)
        url = None
        if loc.latitude is not None and loc.longitude is not None:
            url = f"geo:{loc.latitude},{loc.longitude}"
        title = " · ".join(p for p in (loc.name, loc.address) if p) or None
        return None, (Attachment(type=AttachmentType.LOCATION, url=url, title=title),)
    if kind == "contacts":
        cards = []
        for card in message.contacts:
            name = card.name.formatted_name if card.name else None
            phones = ", ".join(p.phone or p.wa_id or "" for p in card.phones if p.phone or p.wa_id)
            cards.append(_other("contact: " + " ".join(p for p in (name, phones) if p)))
        return None, tuple(cards) or (_other("contact"),)
    if kind == "interactive":
        inter = message.interactive or WaInteractive()
        reply = inter.button_reply or inter.list_reply  # nfm_reply (flows) has no title
        if reply is not None and (reply.title or reply.id):
            return reply.title or reply.id, ()
        return None, (_other(f"interactive {inter.type or 'reply'}"),)
    if kind == "button":
        button = message.button
        return (button.text or button.payload) if button else None, ()
    if kind == "reaction":
        reaction = message.reaction
        target = reaction.message_id if reaction and reaction.message_id else "a message"
        emoji = reaction.emoji if reaction and reaction.emoji else None
        title = f"reaction to {target}" if emoji else f"reaction removed from {target}"
        return emoji, (_other(title),)
    if kind == "order":
        order = message.order
        items = len(order.product_items) if order else 0
        return (order.text if order else None), (_other(f"order ({items} items)"),)
    # "unsupported", "unknown" and types newer than this adapter
    return None, (_other(f"{kind} message"),)


class WhatsAppAdapter(MetaAdapter[WhatsAppWebhook]):
    channel = Channel.WHATSAPP
    payload_model = WhatsAppWebhook

    def account_ids(self, payload: WhatsAppWebhook) -> set[str]:
        return {
            account
            for entry in payload.entry
            for change in entry.changes
            if (account := self._account(change)) is not None
        }

    def commands(
        self, payload: WhatsAppWebhook, connections: Mapping[str, ChannelConnection] | None = None
    ) -> list[ChannelCommand]:
        out: list[ChannelCommand] = []
        for entry in payload.entry:
            for change in entry.changes:
                account_id = self._account(change)
                if account_id is None:
                    continue  # WABA-level change: routes to no phone number (module docstring)
                value = change.value
                if value is None:
                    out.append(
                        IgnoredEvent(
                            channel=self.channel,
                            account_id=account_id,
                            reason=f"{change.field} change",
                        )
                    )
                    continue
                names = {c.wa_id: c.profile.name for c in value.contacts if c.wa_id and c.profile}
                out.extend(self._message(account_id, m, names) for m in value.messages)
                out.extend(self._status(account_id, s) for s in value.statuses)
                if not value.messages and not value.statuses:
                    out.append(
                        IgnoredEvent(
                            channel=self.channel,
                            account_id=account_id,
                            reason="messages change without messages or statuses",
                        )
                    )
        return out

    @staticmethod
    def _account(change: WaChange) -> str | None:
        if change.value is not None:
            return change.value.metadata.phone_number_id
        return change.other_phone_number_id

    def _message(
        self, account_id: str, message: WaMessage, names: Mapping[str, str | None]
    ) -> ChannelCommand:
        if message.type in _NOT_MESSAGES:
            return IgnoredEvent(
                channel=self.channel, account_id=account_id, reason=f"{message.type} message"
            )
        text, attachments = message_content(message)
        return CustomerMessageReceived(
            channel=self.channel,
            account_id=account_id,
            customer_id=message.from_,
            channel_message_id=message.id,
            sent_at=seconds_to_datetime(message.timestamp),
            text=text,
            attachments=attachments,
            customer_name=names.get(message.from_),
        )

    def _status(self, account_id: str, status: WaStatus) -> ChannelCommand:
        known = _STATUSES.get(status.status)
        if known is None:  # e.g. "deleted", "warning": nothing to move forward
            return IgnoredEvent(
                channel=self.channel, account_id=account_id, reason=f"{status.status} status"
            )
        error = None
        if status.errors:
            first = status.errors[0]
            parts = [str(first.code) if first.code is not None else None, first.title]
            error = ": ".join(p for p in parts if p) or first.message or "failed"
        return DeliveryStatusReported(
            channel=self.channel,
            account_id=account_id,
            channel_message_id=status.id,
            status=known,
            at=seconds_to_datetime(status.timestamp),
            error=error,
        )
