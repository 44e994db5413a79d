"""Shopee Open Platform v2 push, webchat (shared/channels.md §2.5): push ``code`` 10.

**Signature.** ``Authorization`` is a bare hex HMAC-SHA256 keyed with the partner key over
``callback_url + "|" + raw body``. The URL is the exact registered string from
``connection.options["callback_url"]``, never rebuilt from the request (host, stage and custom
domain can differ); without it verification fails. One SDK signs the body alone **[uncertain]**:
a connection may opt into that with ``options["signature_variant"] = "body"`` (default
``"url_body"``). A signature that only matches the other variant is logged, so a sandbox test
shows which one Shopee uses, and still refused.

**Account.** The top-level ``shop_id`` (``content.shop_id`` can differ **[uncertain]**), as a
string. Pushes other than code 10 are acknowledged (:class:`IgnoredEvent`); ones without a
``shop_id`` (partner-level pushes) name no account and yield no command.

**Direction.** Seller Centre replies are pushed too. A message is the shop's own (outbound,
:class:`OutboundMessageSeen`, customer = ``to_id``) when ``from_shop_id`` equals the shop, or
``from_id`` equals the shop id, or ``from_id`` equals the shop's chat user id configured in
``connection.options["shop_user_id"]``. Everything else is the buyer's (customer = ``from_id``).
The observed live push names only ``from_id``/``to_id``, so configure ``shop_user_id`` and pass
the connection to :meth:`ShopeeAdapter.commands` (the base ``commands(payload)`` cannot see it).

**Content.** ``message_type`` text, image, sticker, item, order and video are mapped; media
field names are **[uncertain]** and read tolerantly; other types (and other ``data.type``
values) never fail the push. ``created_timestamp`` is in seconds.
"""

from __future__ import annotations

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

WEBCHAT_PUSH_CODE = 10
SIGNATURE_VARIANTS = ("url_body", "body")

Seconds = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS // 1000)]


class _Model(BaseModel):
    # Shopee ids are numbers in JSON; commands carry them as strings
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class ShopeeMessage(_Model):
    message_id: str = Field(min_length=1)
    conversation_id: str | None = None
    from_id: str = Field(min_length=1)
    to_id: str | None = None
    from_shop_id: str | None = None
    to_shop_id: str | None = None
    from_user_name: str | None = None  # [uncertain]: seen in some pushes
    message_type: str
    content: dict[str, Any] = Field(default_factory=dict)
    created_timestamp: Seconds

    @field_validator("content", mode="before")
    @classmethod
    def _tolerate_content(cls, value: Any) -> Any:
        """Content keys are [uncertain]: a bare string is text; any other non-object is empty."""
        if isinstance(value, str):
            return {"text": value}
        return value if isinstance(value, dict) else {}


class ShopeeChatData(_Model):
    type: str
    content: ShopeeMessage | None = None

    @model_validator(mode="before")
    @classmethod
    def _validate_messages_only(cls, data: Any) -> Any:
        """Only ``type: "message"`` content is modelled; other types' shapes are unknown."""
        if isinstance(data, dict) and data.get("type") != "message":
            return {"type": data.get("type")}
        return data

    @model_validator(mode="after")
    def _message_has_content(self) -> ShopeeChatData:
        if self.type == "message" and self.content is None:
            raise ValueError("a message push needs data.content")
        return self


class ShopeePush(_Model):
    code: int
    shop_id: str | None = Field(default=None, min_length=1)
    timestamp: int | None = None
    data: ShopeeChatData | None = None

    @model_validator(mode="before")
    @classmethod
    def _validate_webchat_only(cls, data: Any) -> Any:
        """Only webchat pushes (code 10) are modelled; others are acknowledged, not parsed."""
        if isinstance(data, dict) and data.get("code") not in (WEBCHAT_PUSH_CODE, "10"):
            return {k: v for k, v in data.items() if k != "data"}
        return data

    @model_validator(mode="after")
    def _webchat_names_shop(self) -> ShopeePush:
        if self.code == WEBCHAT_PUSH_CODE and (self.shop_id is None or self.data is None):
            raise ValueError("a webchat push needs shop_id and data")
        return self


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def message_content(message: ShopeeMessage) -> tuple[str | None, tuple[Attachment, ...]]:
    """Text and attachments by ``message_type`` (media keys **[uncertain]**, read tolerantly)."""
    c = message.content
    kind = message.message_type
    text = _text(c.get("text"))
    if kind == "text":
        return text, ()
    if kind == "image":
        url = _text(c.get("url")) or _text(c.get("thumb_url"))
        return text, (Attachment(type=AttachmentType.IMAGE, url=url),)
    if kind == "video":
        url = _text(c.get("video_url")) or _text(c.get("url"))
        media_id = _text(c.get("vid"))
        return text, (Attachment(type=AttachmentType.VIDEO, url=url, media_id=media_id),)
    if kind == "sticker":
        sticker = _text(c.get("sticker_id"))
        return text, (Attachment(type=AttachmentType.STICKER, media_id=sticker),)
    if kind == "item":
        item = _text(c.get("item_id"))
        title = f"item {item}" if item else "item"
        return text, (Attachment(type=AttachmentType.OTHER, media_id=item, title=title),)
    if kind == "order":
        order = _text(c.get("order_sn"))
        title = f"order {order}" if order else "order"
        return text, (Attachment(type=AttachmentType.OTHER, title=title),)
    # bundle, voucher, faq, … and types newer than this adapter
    return text, (Attachment(type=AttachmentType.OTHER, title=kind or "message"),)


class ShopeeAdapter(HexSignedAdapter[ShopeePush]):
    channel = Channel.SHOPEE
    payload_model = ShopeePush
    signature_variants = SIGNATURE_VARIANTS
    default_variant = "url_body"

    def account_ids(self, payload: ShopeePush) -> set[str]:
        return {payload.shop_id} if payload.shop_id else set()

    def signed_bytes(self, variant: str, raw: bytes, connection: ChannelConnection) -> bytes | None:
        if variant == "body":
            return raw
        callback_url = connection.options.get("callback_url")
        return callback_url.encode() + b"|" + raw if callback_url else None

    def acknowledgement(self, summary: Mapping[str, Any]) -> str:
        return ""  # Shopee: "reply 2xx with an empty body"

    def commands(
        self, payload: ShopeePush, connections: Mapping[str, ChannelConnection] | None = None
    ) -> list[ChannelCommand]:
        """The shop's connection supplies ``options["shop_user_id"]`` for direction."""
        shop_id = payload.shop_id
        if not shop_id:
            return []
        connection = (connections or {}).get(shop_id)
        if payload.code != WEBCHAT_PUSH_CODE or payload.data is None:
            return [
                IgnoredEvent(
                    channel=self.channel, account_id=shop_id, reason=f"push code {payload.code}"
                )
            ]
        message = payload.data.content
        if message is None:
            return [
                IgnoredEvent(
                    channel=self.channel,
                    account_id=shop_id,
                    reason=f"chat {payload.data.type} event",
                )
            ]
        shop_user_id = connection.options.get("shop_user_id") if connection else None
        sent_at = datetime.fromtimestamp(message.created_timestamp, tz=UTC)
        text, attachments = message_content(message)
        outbound = self.is_from_shop(shop_id, message, shop_user_id)
        if outbound and not message.to_id:
            return [
                IgnoredEvent(
                    channel=self.channel, account_id=shop_id, reason="shop message without to_id"
                )
            ]
        return [
            self.message_command(
                outbound=outbound,
                account_id=shop_id,
                customer_id=str(message.to_id) if outbound else message.from_id,
                channel_message_id=message.message_id,
                sent_at=sent_at,
                text=text,
                attachments=attachments,
                customer_name=None if outbound else message.from_user_name,
            )
        ]

    @staticmethod
    def is_from_shop(shop_id: str, message: ShopeeMessage, shop_user_id: str | None) -> bool:
        """The direction rule of the module docstring."""
        return (
            message.from_shop_id == shop_id
            or message.from_id == shop_id
            or (bool(shop_user_id) and message.from_id == shop_user_id)
        )
