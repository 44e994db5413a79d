"""LINE Messaging API (shared/channels.md §2.4): ``x-line-signature``, Base64 HMAC-SHA256."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ticketing.channels.base import (
    MAX_EPOCH_MS,
    ChannelAdapter,
    hmac_sha256,
    ms_to_datetime,
)
from ticketing.models.commands import ChannelCommand, CustomerMessageReceived, IgnoredEvent
from ticketing.models.records import Attachment, AttachmentType, Channel, ChannelConnection


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LineSource(_Model):
    type: Literal["user", "group", "room"]
    userId: str | None = None  # noqa: N815 - LINE's field names
    groupId: str | None = None  # noqa: N815
    roomId: str | None = None  # noqa: N815


class ContentProvider(_Model):
    type: str | None = None
    originalContentUrl: str | None = None  # noqa: N815


class LineMessage(_Model):
    id: str = Field(min_length=1)
    type: str
    text: str | None = None
    fileName: str | None = None  # noqa: N815
    stickerId: str | None = None  # noqa: N815
    packageId: str | None = None  # noqa: N815
    title: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    contentProvider: ContentProvider | None = None  # noqa: N815


class DeliveryContext(_Model):
    isRedelivery: bool = False  # noqa: N815


class LineEvent(_Model):
    type: str
    mode: str | None = None
    timestamp: int = Field(ge=0, le=MAX_EPOCH_MS)
    source: LineSource | None = None
    webhookEventId: str = Field(min_length=1)  # noqa: N815
    deliveryContext: DeliveryContext = Field(default_factory=DeliveryContext)  # noqa: N815
    message: LineMessage | None = None
    replyToken: str | None = Field(default=None, max_length=512)  # noqa: N815


class LineWebhook(_Model):
    destination: str = Field(min_length=1)
    events: list[LineEvent]


_TYPES = {
    "image": AttachmentType.IMAGE,
    "video": AttachmentType.VIDEO,
    "audio": AttachmentType.AUDIO,
    "file": AttachmentType.FILE,
    "sticker": AttachmentType.STICKER,
    "location": AttachmentType.LOCATION,
}


def line_attachment(message: LineMessage) -> Attachment | None:
    kind = _TYPES.get(message.type)
    if kind is None:
        return None
    url = None
    if message.contentProvider and message.contentProvider.type == "external":
        url = message.contentProvider.originalContentUrl
    if kind is AttachmentType.LOCATION:
        title = message.address or message.title
        if message.latitude is not None and message.longitude is not None:
            url = f"geo:{message.latitude},{message.longitude}"
        return Attachment(type=kind, url=url, title=title)
    media_id = message.stickerId if kind is AttachmentType.STICKER else message.id
    return Attachment(type=kind, url=url, media_id=media_id, title=message.fileName)


class LineAdapter(ChannelAdapter[LineWebhook]):
    channel = Channel.LINE
    payload_model = LineWebhook

    def account_ids(self, payload: LineWebhook) -> set[str]:
        return {payload.destination}

    def verify(
        self, raw: bytes, headers: Mapping[str, str], secret: str, connection: ChannelConnection
    ) -> bool:
        expected = base64.b64encode(hmac_sha256(secret, raw))
        return hmac.compare_digest(expected, headers.get("x-line-signature", "").encode())

    def commands(
        self, payload: LineWebhook, connections: Mapping[str, ChannelConnection] | None = None
    ) -> list[ChannelCommand]:
        return [self._command(payload.destination, event) for event in payload.events]

    def _command(self, bot_id: str, event: LineEvent) -> ChannelCommand:
        if event.type != "message" or event.message is None:
            return IgnoredEvent(
                channel=self.channel, account_id=bot_id, reason=f"{event.type} event"
            )
        source = event.source
        if source is None or source.type != "user" or not source.userId:
            return IgnoredEvent(
                channel=self.channel,
                account_id=bot_id,
                reason="group and room chats are not tickets",
            )
        message = event.message
        attachment = line_attachment(message)
        # The message id is stable across redeliveries (as is webhookEventId): it is the dedupe key.
        return CustomerMessageReceived(
            channel=self.channel,
            account_id=bot_id,
            customer_id=source.userId,
            channel_message_id=message.id,
            sent_at=ms_to_datetime(event.timestamp),
            text=message.text,
            attachments=(attachment,) if attachment else (),
            reply_token=event.replyToken,  # outbound delivery may answer with it while fresh
        )
