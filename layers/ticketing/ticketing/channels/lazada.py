"""Lazada Open Platform push, IM (shared/channels.md §2.6).

**Signature.** ``Authorization`` holds 64 hex characters of HMAC-SHA256 keyed with the app
secret. The signed bytes are **[uncertain]**; both documented variants are supported, chosen per
connection with ``options["signature_variant"]``:

- ``"app_key_body"`` (default): ``options["app_key"] + raw body``; no ``app_key``, no match;
- ``"body"``: the raw body alone.

A signature that only matches the other variant is logged (channels.md: "log which variant
matches") and still refused, so the setting is fixed once, on evidence.

**Account.** ``seller_id`` alone is the connection's ``account_id``: Lazada seller ids are
per-venture accounts, so ``site`` adds nothing to routing, and no command needs it (it is kept
on the payload model for logs).

**Events.** Type 19 is an IM session update (``data.sync_type`` such as ``SESSION_UPDATE``) and
names no message; the new-message push is **[uncertain]**. So:

- ``data`` carrying a message (``session_id`` and ``message_id``, as ``/im/message/list`` returns
  them: ``from_account_type`` 1 buyer / 2 seller, ``from_account_id``, ``send_time``, ``type`` /
  ``template_id``, ``content`` as an object or a JSON string with ``txt``) becomes
  :class:`CustomerMessageReceived` (buyer) or :class:`OutboundMessageSeen` (seller);
- a bare session update becomes :class:`IgnoredEvent` ("session update: fetch via
  /im/message/list"). Polling that API on session updates (or a timer) and deduping on
  ``message_id`` is future work;
- other message types (orders, products, …) are acknowledged as :class:`IgnoredEvent`.

**Customer.** The thread is ``session_id`` (one buyer-seller session); it is the ``customer_id``
in both directions, because it is present in every shape (push, session update, message list)
while the buyer's account id is absent from a seller message that omits ``to_account_id``.

**Time.** ``send_time`` is in ms per the message API; the push ``timestamp`` unit is
**[uncertain]**, so values below 10^11 are read as seconds and larger ones as ms.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ticketing.channels.base import MAX_EPOCH_MS, HexSignedAdapter
from ticketing.models.commands import (
    ChannelCommand,
    IgnoredEvent,
)
from ticketing.models.records import Attachment, AttachmentType, Channel, ChannelConnection

IM_SESSION_MESSAGE_TYPE = 19
SIGNATURE_VARIANTS = ("app_key_body", "body")
SESSION_UPDATE_REASON = "session update: fetch via /im/message/list"
BUYER, SELLER = 1, 2

# seconds or ms (see ``epoch_to_datetime``)
Epoch = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)]
_MS_THRESHOLD = 10**11  # 1973 in ms, year 5138 in seconds


class _Model(BaseModel):
    # Lazada sends ids as numbers or strings (the message API returns strings)
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class LazadaImMessage(_Model):
    session_id: str = Field(min_length=1)
    message_id: str = Field(min_length=1)
    from_account_type: int
    from_account_id: str | None = None
    to_account_id: str | None = None
    send_time: Epoch | None = None
    type: str | None = None
    template_id: str | None = None
    content: dict[str, Any] | str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _decode_content(cls, value: Any) -> Any:
        """The message API gives ``content`` as a JSON string (``{"txt": "Hi"}``)."""
        if isinstance(value, str):
            try:
                decoded = json.loads(value)
            except (ValueError, RecursionError):
                return value  # plain text
            return decoded if isinstance(decoded, dict) else value
        return value


class LazadaPush(_Model):
    seller_id: str = Field(min_length=1)
    message_type: int
    timestamp: Epoch | None = None
    site: str | None = None
    data: Any = None  # shape depends on message_type; only IM messages are modelled
    message: LazadaImMessage | None = None

    @model_validator(mode="before")
    @classmethod
    def _find_message(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        data = raw.get("data")
        carries_message = isinstance(data, dict) and "message_id" in data
        return {**raw, "message": data if carries_message else None}

    @model_validator(mode="after")
    def _message_has_time(self) -> LazadaPush:
        if self.message and self.message.send_time is None and self.timestamp is None:
            raise ValueError("a message needs data.send_time or timestamp")
        return self

    @property
    def sync_type(self) -> str | None:
        value = self.data.get("sync_type") if isinstance(self.data, dict) else None
        return value if isinstance(value, str) else None


def epoch_to_datetime(value: int) -> datetime:
    seconds = value / 1000 if value >= _MS_THRESHOLD else value
    return datetime.fromtimestamp(seconds, tz=UTC)


def _text(content: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = content.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def message_content(message: LazadaImMessage) -> tuple[str | None, tuple[Attachment, ...]]:
    """Text and attachments from ``content`` (keys **[uncertain]**, read tolerantly)."""
    content = message.content
    if content is None:
        content = {}
    if isinstance(content, str):
        return content or None, ()
    text = _text(content, "txt", "text")
    attachments: list[Attachment] = []
    if image := _text(content, "imgUrl", "img_url", "imageUrl"):
        attachments.append(Attachment(type=AttachmentType.IMAGE, url=image))
    if video := _text(content, "videoUrl", "video_url"):
        attachments.append(Attachment(type=AttachmentType.VIDEO, url=video))
    if item := _text(content, "itemId", "item_id"):
        attachments.append(
            Attachment(type=AttachmentType.OTHER, media_id=item, title=f"item {item}")
        )
    if order := _text(content, "orderId", "order_id", "tradeOrderId"):
        attachments.append(Attachment(type=AttachmentType.OTHER, title=f"order {order}"))
    if text is None and not attachments:
        kind = message.template_id or message.type or "unknown"
        attachments.append(Attachment(type=AttachmentType.OTHER, title=f"message type {kind}"))
    return text, tuple(attachments)


class LazadaAdapter(HexSignedAdapter[LazadaPush]):
    channel = Channel.LAZADA
    payload_model = LazadaPush
    signature_variants = SIGNATURE_VARIANTS
    default_variant = "app_key_body"

    def account_ids(self, payload: LazadaPush) -> set[str]:
        return {payload.seller_id}

    def signed_bytes(self, variant: str, raw: bytes, connection: ChannelConnection) -> bytes | None:
        if variant == "body":
            return raw
        app_key = connection.options.get("app_key")
        return app_key.encode() + raw if app_key else None

    def commands(
        self, payload: LazadaPush, connections: Mapping[str, ChannelConnection] | None = None
    ) -> list[ChannelCommand]:
        account_id = payload.seller_id
        message = payload.message
        if message is None:
            session_update = (
                payload.message_type == IM_SESSION_MESSAGE_TYPE
                or payload.sync_type == "SESSION_UPDATE"
            )
            reason = (
                SESSION_UPDATE_REASON if session_update else f"message_type {payload.message_type}"
            )
            return [IgnoredEvent(channel=self.channel, account_id=account_id, reason=reason)]
        if message.from_account_type not in (BUYER, SELLER):
            return [
                IgnoredEvent(
                    channel=self.channel,
                    account_id=account_id,
                    reason=f"message from account type {message.from_account_type}",
                )
            ]
        when = message.send_time if message.send_time is not None else payload.timestamp
        sent_at = epoch_to_datetime(when or 0)  # never None: LazadaPush._message_has_time
        text, attachments = message_content(message)
        return [
            self.message_command(
                outbound=message.from_account_type == SELLER,
                account_id=account_id,
                customer_id=message.session_id,
                channel_message_id=message.message_id,
                sent_at=sent_at,
                text=text,
                attachments=attachments,
            )
        ]
