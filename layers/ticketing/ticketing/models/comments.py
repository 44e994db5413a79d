"""Public comments (Facebook Page posts, Instagram posts): their own area, with their own statuses.

A comment is stored once per channel comment id (``comment_ref`` is derived from channel, account
and comment id), never deleted: an edit keeps the earlier text in ``history``, a removal sets
``removed_at``. Its ``status`` is derived from what happened to it (see ``derive_status``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ticketing.models.records import Channel, Message, Ticket
from ticketing.models.replies import MAX_REPLY_LENGTH


class CommentStatus(StrEnum):
    NEW = "new"
    REPLIED = "replied"
    HIDDEN = "hidden"
    CONVERTED = "converted"
    REMOVED = "removed"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CommentRevision(_Record):
    """An earlier text of an edited comment, and since when it was the text."""

    text: str | None = None
    at: datetime


class PublicReply(_Record):
    """A public reply an agent recorded on the comment."""

    reply_id: str
    text: str
    author: str
    at: datetime


class Comment(_Record):
    workspace_id: str
    comment_ref: str = Field(description="Our id of the comment (``cm_…``), used by the API.")
    channel: Channel
    account_id: str = Field(description="The Facebook Page or Instagram account.")
    comment_id: str = Field(description="The channel's comment id.")
    post_id: str
    parent_id: str | None = None
    author_id: str | None = Field(
        default=None, description="Facebook: the user's id (not a PSID). Instagram: the IGSID."
    )
    author_name: str | None = None
    text: str | None = None
    text_at: datetime = Field(description="When the current text was written (channel time).")
    created_at: datetime = Field(description="The channel's time of the comment.")
    received_at: datetime
    live: bool = False
    media_product_type: str | None = None
    status: CommentStatus = CommentStatus.NEW
    history: list[CommentRevision] = Field(default_factory=list)
    edited_at: datetime | None = None
    hidden_at: datetime | None = None
    removed_at: datetime | None = None
    replied_at: datetime | None = None
    public_replies: list[PublicReply] = Field(default_factory=list)
    ticket_id: str | None = Field(default=None, description="The DM ticket it was converted to.")
    converted_at: datetime | None = None
    converted_by: str | None = None
    private_reply_message_id: str | None = None
    private_reply_sent_at: datetime | None = Field(
        default=None,
        description="Set (conditionally) before the private reply is queued: at most one per"
        " comment.",
    )
    version: int = 1


def derive_status(comment: Comment) -> CommentStatus:
    """removed > hidden > converted > replied > new."""
    if comment.removed_at is not None:
        return CommentStatus.REMOVED
    if comment.hidden_at is not None:
        return CommentStatus.HIDDEN
    if comment.ticket_id is not None:
        return CommentStatus.CONVERTED
    if comment.replied_at is not None:
        return CommentStatus.REPLIED
    return CommentStatus.NEW


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublicReplyCommand(_Command):
    """Record a public reply an agent posted under the comment."""

    text: str = Field(min_length=1, max_length=8000)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class PrivateReplyCommand(_Command):
    """Reply privately: one DM to the commenter, on their DM ticket."""

    text: str = Field(min_length=1, max_length=MAX_REPLY_LENGTH)
    client_message_id: str = Field(
        min_length=1,
        max_length=64,
        description="The agent UI's idempotency key: a retry answers the stored message (200).",
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class CommentListResponse(BaseModel):
    items: list[Comment]
    next_cursor: str | None = Field(default=None, description="Opaque; pass as ?cursor=.")


class ConvertCommentResponse(BaseModel):
    comment: Comment
    ticket: Ticket
    created: bool = Field(description="True when this call opened the ticket.")


class PrivateReplyResponse(BaseModel):
    comment: Comment
    message: Message = Field(description="The stored outbound message (queued for sending).")
