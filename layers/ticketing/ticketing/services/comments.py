"""Public comments: intake from webhooks, the agents' comments API, conversion to DM tickets and
private replies (issue 5; shared/channels.md §3).

Intake (``ingest_comment``): ``add`` creates the comment (a guarded Put on a key derived from the
channel's comment id: a redelivery is a ``comment_duplicate``); ``edited`` replaces the text and
keeps the earlier one in ``history`` (only a newer edit applies, so redeliveries and out-of-order
edits change nothing); ``remove`` marks ``removed_at`` (never deletes); ``hide``/``unhide`` set or
clear ``hidden_at``. An event for a comment never seen creates it from the event. The Page's own
comments never get here (the adapter ignores them).

Conversion (``convert_comment``) and private replies (``private_reply``) go through
``services.conversion.join_or_open_ticket`` on the commenter's DM conversation:

- Instagram: the comment's ``from.id`` is the commenter's IGSID, the same id their DMs carry
  (shared/channels.md §3.2 — an assumption: Meta documents it as the Instagram-scoped id), so the
  conversion uses the DM conversation itself.
- Facebook: ``from.id`` is **not** the PSID, and the PSID is unknown until the Send API answers the
  private reply. The conversion therefore keys the DM conversation by a placeholder customer id,
  ``fb-user:<from.id>`` (one per commenter and Page: a second converted comment of theirs joins it).
  When the sender's private reply succeeds, Meta answers ``{"recipient_id": <PSID>, ...}`` and the
  sender calls ``record_private_reply_recipient``: an alias item is put at the key the PSID's own
  conversation would have, naming the placeholder conversation, and the PSID becomes that
  conversation's ``customer_id``. Ingest reads that key anyway (its one BatchGetItem), so the
  customer's answer lands on the same conversation and ticket at no extra request; only aliased
  customers pay one GetItem more. If the customer already had a DM conversation with the Page, it
  is left as it is (their answer goes there) and the outcome says so.

The private-reply mark (``private_reply_message_id``/``private_reply_sent_at``) is a write guarded
by the comment's version, made before the reply is stored and queued on the outbox: the message id
is derived from the comment and the client's idempotency key, so a retried request finds its own
mark and its own stored message (nothing is queued twice), and any other request is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketing import ids
from ticketing.errors import (
    ConflictError,
    NotFoundError,
    PrivateReplyNotAllowedError,
    StorageUnavailableError,
    UnprocessableError,
)
from ticketing.models.commands import CommentEvent
from ticketing.models.comments import (
    Comment,
    CommentRevision,
    CommentStatus,
    PrivateReplyCommand,
    PublicReply,
    PublicReplyCommand,
    derive_status,
)
from ticketing.models.records import Channel, Message, Ticket
from ticketing.models.replies import OutboundMessageRequested
from ticketing.repository.base import (
    Page,
    TicketRepository,
    TicketStatusChangedError,
    WriteConflictError,
)
from ticketing.repository.comments import CommentStore
from ticketing.repository.conversion import ConversionStore
from ticketing.services.conversion import join_or_open_ticket
from ticketing.services.ingest import conversation_id_for
from ticketing.services.replies import outbound

MAX_ATTEMPTS = 12
SOURCE_KIND = "comment"
PLACEHOLDER_PREFIX = "fb-user:"
PRIVATE_REPLY_WINDOW = timedelta(days=7)
# Instagram Live allows private replies only during the broadcast. No webhook reports its end, so
# a live comment is considered answerable for at most a broadcast's maximum length (4 h).
LIVE_BROADCAST_MAX = timedelta(hours=4)
# shared/DOMAIN.md: Messenger 2,000 characters, Instagram 1,000
PRIVATE_REPLY_MAX_CHARS = {Channel.MESSENGER: 2000, Channel.INSTAGRAM: 1000}


@dataclass(frozen=True)
class CommentIngestResult:
    outcome: str
    comment_ref: str


@dataclass(frozen=True)
class CommentConversion:
    comment: Comment
    ticket: Ticket
    created: bool  # this call opened the ticket


@dataclass(frozen=True)
class PrivateReplyResult:
    comment: Comment
    message: Message
    created: bool  # False: an idempotent retry (the stored message; nothing queued again)


def comment_ref_for(channel: Channel | str, account_id: str, comment_id: str) -> str:
    return ids.stable_id("cm_", str(channel), account_id, comment_id)


def commenter_customer_id(channel: Channel, author_id: str) -> str:
    """The customer id the commenter's DM conversation is keyed by at conversion time."""
    if channel is Channel.MESSENGER:
        return PLACEHOLDER_PREFIX + author_id  # not a PSID: see the module docstring
    return author_id  # Instagram: the IGSID


def private_reply_message_id(workspace_id: str, comment_ref: str, client_message_id: str) -> str:
    return ids.stable_id("m_", workspace_id, "private-reply", comment_ref, client_message_id)


# ---------------------------------------------------------------------------- intake
def _new_comment(workspace_id: str, cmd: CommentEvent, at: datetime, now: datetime) -> Comment:
    comment = Comment(
        workspace_id=workspace_id,
        comment_ref=comment_ref_for(cmd.channel, cmd.account_id, cmd.comment_id),
        channel=cmd.channel,
        account_id=cmd.account_id,
        comment_id=cmd.comment_id,
        post_id=cmd.post_id,
        parent_id=cmd.parent_id,
        author_id=cmd.author_id,
        author_name=cmd.author_name,
        text=cmd.text,
        text_at=at,
        created_at=at,
        received_at=now,
        live=cmd.live,
        media_product_type=cmd.media_product_type,
    )
    if cmd.verb == "remove":
        comment = comment.model_copy(update={"removed_at": at})
    elif cmd.verb == "hide":
        comment = comment.model_copy(update={"hidden_at": at})
    elif cmd.verb == "edited":
        comment = comment.model_copy(update={"edited_at": at})
    return comment.model_copy(update={"status": derive_status(comment)})


def _apply_event(comment: Comment, cmd: CommentEvent, at: datetime) -> tuple[Comment | None, str]:
    """The comment after the event, or None when it changes nothing (a redelivery, a stale edit)."""
    if cmd.verb == "add":
        return None, "comment_duplicate"
    if cmd.verb == "edited":
        if at <= comment.text_at or cmd.text == comment.text:
            return None, "comment_stale"
        revision = CommentRevision(text=comment.text, at=comment.text_at)
        return comment.model_copy(
            update={
                "text": cmd.text,
                "text_at": at,
                "edited_at": at,
                "history": [*comment.history, revision],
            }
        ), "comment_edited"
    if cmd.verb == "remove":
        if comment.removed_at is not None:
            return None, "comment_duplicate"
        return comment.model_copy(update={"removed_at": at}), "comment_removed"
    if cmd.verb == "hide":
        if comment.hidden_at is not None:
            return None, "comment_duplicate"
        return comment.model_copy(update={"hidden_at": at}), "comment_hidden"
    if comment.hidden_at is None:  # unhide
        return None, "comment_duplicate"
    return comment.model_copy(update={"hidden_at": None}), "comment_unhidden"


def ingest_comment(
    repo: TicketRepository, workspace_id: str, cmd: CommentEvent, now: datetime
) -> CommentIngestResult:
    store = CommentStore.of(repo)
    at = cmd.at or now
    ref = comment_ref_for(cmd.channel, cmd.account_id, cmd.comment_id)
    if cmd.verb == "add":  # one guarded Put: stored, or already there (a redelivery)
        stored = store.create(_new_comment(workspace_id, cmd, at, now))
        return CommentIngestResult("comment_stored" if stored is None else "comment_duplicate", ref)
    for _ in range(MAX_ATTEMPTS):
        current = store.get(workspace_id, ref)
        if current is None:
            if store.create(_new_comment(workspace_id, cmd, at, now)) is None:
                # an event for a comment never seen (its add lost or late): kept from the event
                return CommentIngestResult(f"comment_stored_from_{cmd.verb}", ref)
            continue  # created meanwhile (a concurrent delivery): apply the event to it
        changed, outcome = _apply_event(current, cmd, at)
        if changed is None:
            return CommentIngestResult(outcome, ref)
        changed = changed.model_copy(update={"status": derive_status(changed)})
        if store.replace(changed, seen_version=current.version):
            return CommentIngestResult(outcome, ref)
    raise StorageUnavailableError("the comment kept changing; retry later")


# ---------------------------------------------------------------------------- agents' API
def get_comment(repo: TicketRepository, workspace_id: str, comment_ref: str) -> Comment:
    comment = CommentStore.of(repo).get(workspace_id, comment_ref)
    if comment is None:
        raise NotFoundError("comment not found", details={"comment_id": comment_ref})
    return comment


def list_comments(
    repo: TicketRepository,
    workspace_id: str,
    *,
    post_id: str | None,
    channel: Channel | None,
    account_id: str | None,
    status: CommentStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[Comment]:
    """By post (``channel`` + ``account_id`` + ``post_id``; optionally one status), or by status
    (default ``new``), newest first."""
    store = CommentStore.of(repo)
    if post_id is not None:
        if channel is None or account_id is None:
            raise UnprocessableError(
                "listing a post's comments needs its channel and account_id",
                details={"errors": [{"field": "channel"}, {"field": "account_id"}]},
            )
        return store.list_by_post(
            workspace_id,
            channel.value,
            account_id,
            post_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )
    return store.list_by_status(
        workspace_id, status or CommentStatus.NEW, limit=limit, cursor=cursor
    )


def _change(
    repo: TicketRepository,
    workspace_id: str,
    comment_ref: str,
    change: Callable[[Comment], Comment | None],
    *,
    seen: Comment | None = None,
) -> Comment:
    """Read (or start from ``seen``, just read by the caller), change (None = nothing to do),
    write guarded by the version read; read and decide again when someone changed it first."""
    store = CommentStore.of(repo)
    for _ in range(MAX_ATTEMPTS):
        current = seen or get_comment(repo, workspace_id, comment_ref)
        seen = None
        changed = change(current)
        if changed is None:
            return current
        changed = changed.model_copy(update={"status": derive_status(changed)})
        if store.replace(changed, seen_version=current.version):
            return changed.model_copy(update={"version": current.version + 1})
    raise StorageUnavailableError(
        "the comment kept changing; retry", details={"comment_id": comment_ref}
    )


def mark_hidden(
    repo: TicketRepository, workspace_id: str, comment_ref: str, *, now: datetime
) -> Comment:
    return _change(
        repo,
        workspace_id,
        comment_ref,
        lambda c: None if c.hidden_at else c.model_copy(update={"hidden_at": now}),
    )


def mark_replied(
    repo: TicketRepository, workspace_id: str, comment_ref: str, *, now: datetime
) -> Comment:
    return _change(
        repo,
        workspace_id,
        comment_ref,
        lambda c: None if c.replied_at else c.model_copy(update={"replied_at": now}),
    )


def record_public_reply(
    repo: TicketRepository,
    workspace_id: str,
    comment_ref: str,
    command: PublicReplyCommand,
    *,
    agent_id: str,
    now: datetime,
) -> Comment:
    reply = PublicReply(reply_id="pr_" + ids.ulid(), text=command.text, author=agent_id, at=now)

    def add(comment: Comment) -> Comment:
        return comment.model_copy(
            update={
                "public_replies": [*comment.public_replies, reply],
                "replied_at": comment.replied_at or now,
            }
        )

    return _change(repo, workspace_id, comment_ref, add)


# ---------------------------------------------------------------------------- conversion
def _customer(comment: Comment) -> str:
    if comment.channel not in PRIVATE_REPLY_MAX_CHARS or not comment.author_id:
        raise ConflictError(
            "this comment has no commenter who can be messaged",
            details={"comment_id": comment.comment_ref, "channel": comment.channel.value},
        )
    return commenter_customer_id(comment.channel, comment.author_id)


def _join_or_open(
    repo: TicketRepository, comment: Comment, *, actor: str, now: datetime
) -> tuple[Ticket, bool]:
    result = join_or_open_ticket(
        repo,
        workspace_id=comment.workspace_id,
        channel=comment.channel,
        account_id=comment.account_id,
        customer_id=_customer(comment),
        display_name=comment.author_name,
        source_kind=SOURCE_KIND,
        source_id=comment.comment_ref,
        actor=actor,
        now=now,
    )
    return result.ticket, result.created


def _link(
    repo: TicketRepository, comment: Comment, ticket: Ticket, *, actor: str, now: datetime
) -> Comment:
    """comment → ticket, once: a comment already linked keeps its ticket (the winner's)."""

    def link(current: Comment) -> Comment | None:
        if current.ticket_id is not None:
            return None
        return current.model_copy(
            update={"ticket_id": ticket.ticket_id, "converted_at": now, "converted_by": actor}
        )

    return _change(repo, comment.workspace_id, comment.comment_ref, link, seen=comment)


def convert_comment(
    repo: TicketRepository, workspace_id: str, comment_ref: str, *, actor: str, now: datetime
) -> CommentConversion:
    """Open (or join) the commenter's DM ticket and link it with the comment, both ways.
    Converting again — or concurrently — answers the comment's one ticket."""
    comment = get_comment(repo, workspace_id, comment_ref)
    if comment.ticket_id is not None:
        linked = repo.get_ticket(workspace_id, comment.ticket_id)
        if linked is not None:
            return CommentConversion(comment, linked, created=False)
    ticket, created = _join_or_open(repo, comment, actor=actor, now=now)
    comment = _link(repo, comment, ticket, actor=actor, now=now)
    if comment.ticket_id != ticket.ticket_id:
        # another conversion linked the comment first: answer its ticket
        assert comment.ticket_id is not None
        winner = repo.get_ticket(workspace_id, comment.ticket_id)
        if winner is None:  # pragma: no cover - tickets are never deleted
            raise NotFoundError("ticket not found", details={"ticket_id": comment.ticket_id})
        return CommentConversion(comment, winner, created=False)
    return CommentConversion(comment, ticket, created=created)


# ---------------------------------------------------------------------------- private replies
def private_reply_refusal(comment: Comment, message_id: str, now: datetime) -> str | None:
    """Meta's rules (shared/channels.md §3.3), as a reason code, or None when allowed."""
    if comment.channel not in PRIVATE_REPLY_MAX_CHARS or not comment.author_id:
        return "unsupported"
    if comment.private_reply_message_id is not None:
        return None if comment.private_reply_message_id == message_id else "already_sent"
    if comment.removed_at is not None:
        return "removed"
    if comment.live and now - comment.created_at > LIVE_BROADCAST_MAX:
        return "live_ended"
    if now - comment.created_at > PRIVATE_REPLY_WINDOW:
        return "window_closed"
    return None


_REFUSALS = {
    "unsupported": "this comment cannot get a private reply",
    "already_sent": "a private reply was already sent for this comment (one per comment)",
    "removed": "the comment was removed",
    "live_ended": "Instagram Live comments get private replies only during the broadcast",
    "window_closed": "private replies are allowed within 7 days of the comment",
}


def _refuse(comment: Comment, reason: str) -> PrivateReplyNotAllowedError:
    details: dict[str, object] = {"comment_id": comment.comment_ref, "reason": reason}
    if reason == "already_sent":
        details["message_id"] = comment.private_reply_message_id
    return PrivateReplyNotAllowedError(_REFUSALS[reason], details=details)


def private_reply(
    repo: TicketRepository,
    workspace_id: str,
    comment_ref: str,
    command: PrivateReplyCommand,
    *,
    agent_id: str,
    now: datetime,
) -> PrivateReplyResult:
    comment = get_comment(repo, workspace_id, comment_ref)
    message_id = private_reply_message_id(workspace_id, comment_ref, command.client_message_id)
    reason = private_reply_refusal(comment, message_id, now)
    if reason is not None:
        raise _refuse(comment, reason)
    limit = PRIVATE_REPLY_MAX_CHARS[comment.channel]
    if len(command.text) > limit:
        raise UnprocessableError(
            f"a {comment.channel.value} private reply holds at most {limit} characters",
            details={"errors": [{"field": "text", "max_length": limit}]},
        )

    ticket, _ = _join_or_open(repo, comment, actor=agent_id, now=now)

    # the mark, before anything is queued: at most one private reply per comment
    def mark(current: Comment) -> Comment | None:
        refusal = private_reply_refusal(current, message_id, now)
        if refusal is not None:
            raise _refuse(current, refusal)
        if current.private_reply_message_id == message_id:
            return None  # a retry of this very request: its mark is there
        return current.model_copy(
            update={
                "private_reply_message_id": message_id,
                "private_reply_sent_at": now,
                "ticket_id": current.ticket_id or ticket.ticket_id,
                "converted_at": current.converted_at or now,
                "converted_by": current.converted_by or agent_id,
            }
        )

    comment = _change(repo, workspace_id, comment_ref, mark, seen=comment)
    conversation = repo.get_conversation(workspace_id, ticket.conversation_id)
    if conversation is None:  # pragma: no cover - created with the ticket
        raise NotFoundError("conversation not found", details={"ticket_id": ticket.ticket_id})
    message, outbox = outbound(
        ticket,
        conversation,
        message_id,
        command.text,
        sender_id=agent_id,
        now=now,
        comment_id=comment.comment_id,
    )
    for _ in range(MAX_ATTEMPTS):
        try:
            stored = repo.add_reply(message=message, outbox=outbox)
        except TicketStatusChangedError as exc:
            status = exc.current.status.value if exc.current else "missing"
            raise ConflictError(
                f"the ticket is {status}: reopen it before replying",
                details={"ticket_id": ticket.ticket_id, "status": status},
            ) from exc
        except WriteConflictError:
            continue  # a concurrent transaction on the ticket: the write is idempotent
        if stored is not None:
            return PrivateReplyResult(comment, stored, created=False)
        return PrivateReplyResult(comment, message, created=True)
    raise StorageUnavailableError(
        "the ticket kept changing; retry with the same client_message_id",
        details={"ticket_id": ticket.ticket_id},
    )


def record_private_reply_recipient(
    repo: TicketRepository, detail: OutboundMessageRequested, recipient_id: str, now: datetime
) -> str:
    """The sender's private reply succeeded and Meta named the recipient (``recipient_id`` of the
    Send API answer: the PSID / IGSID). Make the customer's later DMs find this conversation.

    Returns ``already_known`` (the conversation is keyed by that id: Instagram), ``aliased``,
    ``already_aliased`` (a redelivered event) or ``psid_has_conversation``."""
    if detail.comment_id is None:
        raise ValueError("not a private reply")
    if recipient_id == detail.customer_id:
        return "already_known"
    alias_id = conversation_id_for(detail.channel, detail.account_id, recipient_id)
    if alias_id == detail.conversation_id:
        return "already_known"
    return ConversionStore.of(repo).record_recipient(
        workspace_id=detail.workspace_id,
        conversation_id=detail.conversation_id,
        alias_conversation_id=alias_id,
        recipient_id=recipient_id,
        contact_id=detail.contact_id,
        at=now,
    )
