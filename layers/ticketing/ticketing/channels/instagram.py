"""Instagram Messaging (shared/channels.md §2.2): Messenger-shaped ``messaging[]`` events.

Both logins deliver the same shape (``object: "instagram"``, ``entry.id`` = the IG professional
account, ``sender.id`` = the IGSID), so one model serves both. Only the signing key differs: the
Meta App Secret with Facebook Login, the Instagram app secret with Instagram Login
**[uncertain]**. Either way it is the connection's own secret, so nothing here depends on it.

- Echoes (``is_echo``) come inside ``message`` and are the account's own sends: outbound, never
  customer messages. A message whose sender is the account itself is treated the same way.
- ``is_deleted`` (an unsent message) becomes :class:`MessageDeleted`, so storage can mark it.
- ``reply_to`` is ignored; reactions, reads, referrals and edits are acknowledged as
  :class:`IgnoredEvent`. ``changes[]`` comments become :class:`CommentEvent` (channels/comments.py).
- Attachments: image/video/audio/file map to typed records; share, ig_post, story_mention, reel
  and ig_reel are ``OTHER`` with the CDN URL and a title naming the kind (a story mention may be a
  picture or a video, so it is not called an image).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ticketing.channels.base import MAX_EPOCH_MS, ms_to_datetime
from ticketing.channels.comments import IgCommentChange, instagram_command
from ticketing.channels.messenger import (
    MessengerMessage,
    MessengerPostback,
    MetaAdapter,
    MetaAttachment,
    Party,
    meta_attachment,
)
from ticketing.models.commands import (
    ChannelCommand,
    CustomerMessageReceived,
    IgnoredEvent,
    MessageDeleted,
    OutboundMessageSeen,
)
from ticketing.models.records import Attachment, AttachmentType, Channel, ChannelConnection

Millis = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class IgMessage(MessengerMessage):
    is_deleted: bool = False
    is_unsupported: bool = False


class IgMessagingEvent(_Model):
    sender: Party
    recipient: Party
    timestamp: Millis
    message: IgMessage | None = None
    postback: MessengerPostback | None = None
    # not messages: only their presence matters (for the ignore reason)
    reaction: Any = None
    read: Any = None
    referral: Any = None
    message_edit: Any = None


class IgEntry(_Model):
    id: str = Field(min_length=1)
    time: int | None = None
    messaging: list[IgMessagingEvent] = Field(default_factory=list)
    standby: list[IgMessagingEvent] = Field(default_factory=list)
    changes: list[IgCommentChange] = Field(default_factory=list)  # channels/comments.py


class InstagramWebhook(_Model):
    object: Literal["instagram"]
    entry: list[IgEntry]


# payload keys that name the shared item (a reel video, a post)
_MEDIA_ID_KEYS = ("reel_video_id", "ig_post_media_id")


def ig_attachment(att: MetaAttachment) -> Attachment:
    """Messenger's mapping, plus a descriptive title and media id for IG-only kinds."""
    attachment = meta_attachment(att)
    if attachment.type is not AttachmentType.OTHER:
        return attachment
    payload = att.payload or {}
    caption = payload.get("title")
    media_id = next(
        (
            str(payload[k])
            for k in _MEDIA_ID_KEYS
            if isinstance(payload.get(k), str | int) and not isinstance(payload.get(k), bool)
        ),
        None,
    )
    title = f"{att.type}: {caption}" if isinstance(caption, str) and caption else att.type
    return attachment.model_copy(update={"title": attachment.title or title, "media_id": media_id})


def _content(message: IgMessage) -> tuple[str | None, tuple[Attachment, ...]]:
    attachments = tuple(ig_attachment(a) for a in message.attachments)
    if message.is_unsupported and not attachments:
        attachments = (Attachment(type=AttachmentType.OTHER, title="unsupported message"),)
    return message.text, attachments


class InstagramAdapter(MetaAdapter[InstagramWebhook]):
    channel = Channel.INSTAGRAM
    payload_model = InstagramWebhook

    def account_ids(self, payload: InstagramWebhook) -> set[str]:
        return {entry.id for entry in payload.entry}

    def commands(
        self, payload: InstagramWebhook, connections: Mapping[str, ChannelConnection] | None = None
    ) -> list[ChannelCommand]:
        out: list[ChannelCommand] = []
        for entry in payload.entry:
            # standby events (another app holds the thread) are stored too, never answered
            for event in [*entry.messaging, *entry.standby]:
                out.append(self._command(entry.id, event))
            for change in entry.changes:  # comments (issue 5); other fields are ignored
                out.append(instagram_command(entry.id, change.field, change.value, entry.time))
        return out

    def _command(self, account_id: str, event: IgMessagingEvent) -> ChannelCommand:
        at = ms_to_datetime(event.timestamp)
        message = event.message
        if message is not None:
            outbound = message.is_echo or event.sender.id == account_id
            customer_id = event.recipient.id if outbound else event.sender.id
            if message.is_deleted:
                return MessageDeleted(
                    channel=self.channel,
                    account_id=account_id,
                    customer_id=customer_id,
                    channel_message_id=message.mid,
                    at=at,
                )
            text, attachments = _content(message)
            if outbound:
                return OutboundMessageSeen(
                    channel=self.channel,
                    account_id=account_id,
                    customer_id=customer_id,
                    channel_message_id=message.mid,
                    sent_at=at,
                    text=text,
                    attachments=attachments,
                    app_id=str(message.app_id) if message.app_id is not None else None,
                )
            return CustomerMessageReceived(
                channel=self.channel,
                account_id=account_id,
                customer_id=customer_id,
                channel_message_id=message.mid,
                sent_at=at,
                text=text,
                attachments=attachments,
            )
        if event.postback is not None and event.postback.mid:
            # an icebreaker or button tap is the customer speaking
            return CustomerMessageReceived(
                channel=self.channel,
                account_id=account_id,
                customer_id=event.sender.id,
                channel_message_id=event.postback.mid,
                sent_at=at,
                text=event.postback.title or event.postback.payload,
            )
        kind = next(
            (
                name
                for name in ("reaction", "read", "referral", "message_edit", "postback")
                if getattr(event, name) is not None
            ),
            "unknown",
        )
        return IgnoredEvent(
            channel=self.channel, account_id=account_id, reason=f"{kind} event (not a message)"
        )
