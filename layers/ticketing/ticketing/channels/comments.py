"""Comment webhooks of the Meta adapters (shared/channels.md §3): Facebook Page ``feed`` changes
and Instagram ``comments`` / ``live_comments`` changes. They arrive on the same routes and
signatures as the DMs (``/webhooks/messenger``, ``/webhooks/instagram``), in ``entry[].changes[]``.

- Facebook ``feed``: only ``item: comment`` is a comment (posts, reactions, … are ignored). Verbs
  ``add``, ``edited`` (``edit`` accepted too), ``remove``, ``hide``, ``unhide`` **[uncertain]**;
  others are ignored. ``from.id`` is the user's id, **not** a PSID. ``created_time`` is in seconds.
  A comment whose ``from.id`` is the Page itself is the Page's own: ignored.
- Instagram: ``id`` or ``comment_id`` (both accepted), ``text``, ``from{id, username}`` (the
  IGSID), ``parent_id``, ``media{id, media_product_type}``; ``live_comments`` are Live comments.
  The value has no timestamp: the entry's ``time`` is used (seconds or ms, told apart by size).
  No edit/remove event is known **[uncertain]**: every IG change is an ``add``. The account's own
  comments (``from.id`` = the account) are ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ticketing.channels.base import MAX_EPOCH_MS, ms_to_datetime
from ticketing.models.commands import ChannelCommand, CommentEvent, IgnoredEvent, KeyPart
from ticketing.models.records import Channel

FEED_VERBS: dict[str, Literal["add", "edited", "remove", "hide", "unhide"]] = {
    "add": "add",
    "edited": "edited",
    "edit": "edited",
    "remove": "remove",
    "hide": "hide",
    "unhide": "unhide",
}
IG_COMMENT_FIELDS = {"comments", "live_comments"}
UNKNOWN_MEDIA = "unknown-media"
_SECONDS_LIMIT = 100_000_000_000  # below: seconds (year 5138); above: milliseconds


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Author(_Model):
    id: KeyPart
    name: str | None = None
    username: str | None = None


class FeedComment(_Model):
    """``changes[].value`` of a Page ``feed`` change with ``item: comment``."""

    item: str
    verb: str
    comment_id: KeyPart
    post_id: KeyPart
    parent_id: str | None = None
    author: Author | None = Field(default=None, alias="from")
    message: str | None = None
    created_time: int | None = Field(default=None, ge=0, le=MAX_EPOCH_MS // 1000)


class IgMedia(_Model):
    id: KeyPart
    media_product_type: str | None = None


class IgComment(_Model):
    """``changes[].value`` of an Instagram ``comments`` / ``live_comments`` change."""

    id: KeyPart
    text: str | None = None
    author: Author | None = Field(default=None, alias="from")
    parent_id: str | None = None
    media: IgMedia | None = None  # always sent in practice; without it the post is unknown

    @model_validator(mode="before")
    @classmethod
    def _either_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "id" not in data and "comment_id" in data:
            return {**data, "id": data["comment_id"]}
        return data


def entry_time(value: int | None) -> datetime | None:
    if value is None or value < 0 or value > MAX_EPOCH_MS:
        return None
    return ms_to_datetime(value * 1000 if value < _SECONDS_LIMIT else value)


def feed_command(page_id: str, value: Any) -> ChannelCommand:
    """One Page ``feed`` change → a comment command (or an ignored event)."""
    if not isinstance(value, dict) or value.get("item") != "comment":
        item = value.get("item") if isinstance(value, dict) else None
        return IgnoredEvent(
            channel=Channel.MESSENGER, account_id=page_id, reason=f"feed {item or 'change'}"
        )
    comment = FeedComment.model_validate(value)
    verb = FEED_VERBS.get(comment.verb)
    if verb is None:
        return IgnoredEvent(
            channel=Channel.MESSENGER,
            account_id=page_id,
            reason=f"feed comment verb {comment.verb[:32]}",
        )
    if comment.author is not None and comment.author.id == page_id:
        return IgnoredEvent(
            channel=Channel.MESSENGER, account_id=page_id, reason="the page's own comment"
        )
    return CommentEvent(
        channel=Channel.MESSENGER,
        account_id=page_id,
        verb=verb,
        comment_id=comment.comment_id,
        post_id=comment.post_id,
        parent_id=comment.parent_id if comment.parent_id != comment.post_id else None,
        author_id=comment.author.id if comment.author else None,
        author_name=comment.author.name if comment.author else None,
        text=comment.message,
        at=entry_time(comment.created_time),
    )


def instagram_command(account_id: str, field: str, value: Any, time: int | None) -> ChannelCommand:
    """One Instagram change → a comment command (or an ignored event for other fields)."""
    if field not in IG_COMMENT_FIELDS:
        return IgnoredEvent(
            channel=Channel.INSTAGRAM,
            account_id=account_id,
            reason=f"{field[:32]} change (not a direct message)",
        )
    comment = IgComment.model_validate(value)
    if comment.author is not None and comment.author.id == account_id:
        return IgnoredEvent(
            channel=Channel.INSTAGRAM, account_id=account_id, reason="the account's own comment"
        )
    media = comment.media or IgMedia(id=UNKNOWN_MEDIA)
    live = field == "live_comments" or (media.media_product_type or "").upper() == "LIVE"
    return CommentEvent(
        channel=Channel.INSTAGRAM,
        account_id=account_id,
        verb="add",
        comment_id=comment.id,
        post_id=media.id,
        parent_id=comment.parent_id,
        author_id=comment.author.id if comment.author else None,
        author_name=comment.author.username if comment.author else None,
        text=comment.text,
        at=entry_time(time),
        media_product_type=media.media_product_type,
        live=live,
    )


def _checked(model: type[BaseModel], value: Any) -> None:
    try:
        model.model_validate(value)
    except ValidationError as exc:
        raise ValueError(f"not a valid comment: {exc.error_count()} error(s)") from None


class MetaChange(_Model):
    """A Page ``entry[].changes[]`` item. A ``feed`` comment's shape is checked at parse (a
    malformed one is a 400 like any malformed payload), so translating it cannot fail."""

    field: str
    value: Any = None

    @model_validator(mode="after")
    def _comment_shape(self) -> MetaChange:
        feed = self.field == "feed" and isinstance(self.value, dict)
        if feed and self.value.get("item") == "comment":
            _checked(FeedComment, self.value)
        return self


class IgCommentChange(_Model):
    """An Instagram ``entry[].changes[]`` item; ``comments``/``live_comments`` checked at parse."""

    field: str
    value: Any = None

    @model_validator(mode="after")
    def _comment_shape(self) -> IgCommentChange:
        if self.field in IG_COMMENT_FIELDS:
            _checked(IgComment, self.value)
        return self
