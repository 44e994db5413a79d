"""Facebook Messenger (shared/channels.md §2.1): Page webhooks, ``X-Hub-Signature-256``."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ticketing.channels.base import (
    MAX_EPOCH_MS,
    ChannelAdapter,
    P,
    hmac_sha256,
    ms_to_datetime,
)
from ticketing.channels.comments import MetaChange, feed_command
from ticketing.models.commands import (
    ChannelCommand,
    CustomerMessageReceived,
    IgnoredEvent,
    OutboundMessageSeen,
)
from ticketing.models.records import Attachment, AttachmentType, Channel, ChannelConnection


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Party(_Model):
    id: str = Field(min_length=1)


class MetaAttachment(_Model):
    type: str
    payload: dict[str, Any] | None = None
    title: str | None = None


class MessengerMessage(_Model):
    mid: str = Field(min_length=1)
    text: str | None = None
    attachments: list[MetaAttachment] = Field(default_factory=list)
    is_echo: bool = False
    app_id: int | str | None = None
    metadata: str | None = None


class MessengerPostback(_Model):
    mid: str | None = None
    title: str | None = None
    payload: str | None = None


class MessagingEvent(_Model):
    sender: Party
    recipient: Party
    timestamp: int = Field(ge=0, le=MAX_EPOCH_MS)
    message: MessengerMessage | None = None
    postback: MessengerPostback | None = None


class MessengerEntry(_Model):
    id: str = Field(min_length=1)
    time: int | None = None
    messaging: list[MessagingEvent] = Field(default_factory=list)
    standby: list[MessagingEvent] = Field(default_factory=list)
    changes: list[MetaChange] = Field(default_factory=list)  # Page feed: channels/comments.py


class MessengerWebhook(_Model):
    object: Literal["page"]
    entry: list[MessengerEntry]


_TYPES = {
    "image": AttachmentType.IMAGE,
    "video": AttachmentType.VIDEO,
    "audio": AttachmentType.AUDIO,
    "file": AttachmentType.FILE,
    "sticker": AttachmentType.STICKER,
    "location": AttachmentType.LOCATION,
}


def meta_attachment(att: MetaAttachment) -> Attachment:
    payload = att.payload or {}
    kind = _TYPES.get(att.type, AttachmentType.OTHER)
    if kind is AttachmentType.IMAGE and payload.get("sticker_id"):
        kind = AttachmentType.STICKER
    url = payload.get("url")
    return Attachment(
        type=kind,
        url=url if isinstance(url, str) else None,
        media_id=str(payload["sticker_id"]) if payload.get("sticker_id") else None,
        title=att.title,
    )


def verify_meta_signature(raw: bytes, headers: Mapping[str, str], secret: str) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>`` over the raw body (Meta escapes non-ASCII first)."""
    expected = "sha256=" + hmac_sha256(secret, raw).hex()
    return hmac.compare_digest(expected.encode(), headers.get("x-hub-signature-256", "").encode())


def meta_handshake(query: Mapping[str, str], verify_token: str | None) -> str | None:
    if (
        verify_token
        and query.get("hub.mode") == "subscribe"
        and hmac.compare_digest(query.get("hub.verify_token", "").encode(), verify_token.encode())
        and query.get("hub.challenge")
    ):
        return query["hub.challenge"]
    return None


class MetaAdapter(ChannelAdapter[P]):
    """Messenger, Instagram and WhatsApp: Meta's GET handshake and ``X-Hub-Signature-256``."""

    handshake_supported = True

    def verify(
        self, raw: bytes, headers: Mapping[str, str], secret: str, connection: ChannelConnection
    ) -> bool:
        return verify_meta_signature(raw, headers, secret)

    def handshake(self, query: Mapping[str, str], verify_token: str | None) -> str | None:
        return meta_handshake(query, verify_token)


class MessengerAdapter(MetaAdapter[MessengerWebhook]):
    channel = Channel.MESSENGER
    payload_model = MessengerWebhook

    def account_ids(self, payload: MessengerWebhook) -> set[str]:
        return {entry.id for entry in payload.entry}

    def commands(
        self, payload: MessengerWebhook, connections: Mapping[str, ChannelConnection] | None = None
    ) -> list[ChannelCommand]:
        out: list[ChannelCommand] = []
        for entry in payload.entry:
            # standby events (another app holds the thread) are stored too, never answered
            for event in [*entry.messaging, *entry.standby]:
                out.append(self._command(entry.id, event))
            for change in entry.changes:  # Page feed comments (issue 5)
                out.append(
                    feed_command(entry.id, change.value)
                    if change.field == "feed"
                    else IgnoredEvent(
                        channel=self.channel,
                        account_id=entry.id,
                        reason=f"{change.field[:32]} change",
                    )
                )
        return out

    def _command(self, page_id: str, event: MessagingEvent) -> ChannelCommand:
        sent_at = ms_to_datetime(event.timestamp)
        message = event.message
        if message is not None and message.is_echo:
            return OutboundMessageSeen(
                channel=self.channel,
                account_id=page_id,
                customer_id=event.recipient.id,
                channel_message_id=message.mid,
                sent_at=sent_at,
                text=message.text,
                attachments=tuple(meta_attachment(a) for a in message.attachments),
                app_id=str(message.app_id) if message.app_id is not None else None,
                metadata=message.metadata,
            )
        if message is not None:
            return CustomerMessageReceived(
                channel=self.channel,
                account_id=page_id,
                customer_id=event.sender.id,
                channel_message_id=message.mid,
                sent_at=sent_at,
                text=message.text,
                attachments=tuple(meta_attachment(a) for a in message.attachments),
            )
        if event.postback is not None and event.postback.mid:
            # a button tap is the customer speaking: stored with the button's title as text
            return CustomerMessageReceived(
                channel=self.channel,
                account_id=page_id,
                customer_id=event.sender.id,
                channel_message_id=event.postback.mid,
                sent_at=sent_at,
                text=event.postback.title or event.postback.payload,
            )
        return IgnoredEvent(
            channel=self.channel, account_id=page_id, reason="not a message (delivery/read/…)"
        )
