"""Agent replies: stored on the ticket as outbound messages and queued on the outbox, together.

- The message id is derived from (workspace, ticket, client_message_id), so a retried request
  addresses the same item: its guarded Put stores it once, and a retry answers the stored message
  without queueing it again.
- Only an open ticket takes a reply: a closed or spam ticket answers 409 (reopen it first). The
  ticket guard is part of the transaction, so a reply racing a close either lands before it or
  is refused.
- The stored message's ``channel_message_id`` is ``out:<message_id>`` until the sender learns the
  channel's own id (issue 8); its ``delivery_status`` starts at ``sending``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ticketing import ids
from ticketing.errors import ConflictError, NotFoundError, StorageUnavailableError
from ticketing.models.records import (
    Channel,
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    Ticket,
    TicketStatus,
)
from ticketing.models.replies import OutboundMessageRequested, OutboxItem, ReplyCommand
from ticketing.outbound_rules import LINE_REPLY_TOKEN_TTL, plan_send
from ticketing.repository import keys
from ticketing.repository.base import (
    TicketRepository,
    TicketStatusChangedError,
    WriteConflictError,
)
from ticketing.services.tickets import get_ticket

MAX_ATTEMPTS = 5
OUTBOUND_PLACEHOLDER_PREFIX = "out:"


@dataclass(frozen=True)
class ReplyResult:
    message: Message
    created: bool  # False: the same client_message_id was already stored (an idempotent retry)


def reply_message_id(workspace_id: str, ticket_id: str, client_message_id: str) -> str:
    """The reply's id, a function of the client's idempotency key on this ticket."""
    return ids.stable_id("m_", workspace_id, ticket_id, client_message_id)


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not crypto


def _not_open(ticket_id: str, status: TicketStatus) -> ConflictError:
    return ConflictError(
        f"the ticket is {status.value}: reopen it before replying",
        details={"ticket_id": ticket_id, "status": status.value},
    )


def _fresh_reply_token(repo: TicketRepository, ticket: Ticket, now: datetime) -> str | None:
    """LINE: the customer's last message's reply token while it may still be used (issue 8);
    the sender falls back to push when it is stale or refused."""
    last = ticket.last_inbound_at
    if ticket.channel is not Channel.LINE or last is None or now - last > LINE_REPLY_TOKEN_TTL:
        return None
    from ticketing.repository.delivery import DeliveryRepository

    store = DeliveryRepository.of(repo)
    return store.latest_reply_token(ticket.workspace_id, ticket.ticket_id) if store else None


def outbound(
    ticket: Ticket,
    conversation: Conversation,
    message_id: str,
    text: str,
    *,
    sender_id: str,
    now: datetime,
    **detail: Any,
) -> tuple[Message, OutboxItem]:
    """An outbound message as stored (``sending``, keyed by its placeholder until the channel
    names it) and the outbox item that hands it to the sender; ``detail`` adds the event's
    optional fields (``reply_token``, ``comment_id``, …)."""
    message = Message(
        workspace_id=ticket.workspace_id,
        message_id=message_id,
        ticket_id=ticket.ticket_id,
        conversation_id=ticket.conversation_id,
        channel=ticket.channel,
        account_id=ticket.account_id,
        direction=Direction.OUTBOUND,
        channel_message_id=OUTBOUND_PLACEHOLDER_PREFIX + message_id,
        sender_id=sender_id,
        text=text,
        sent_at=now,
        received_at=now,
        delivery_status=DeliveryStatus.SENDING,
        delivery_status_at=now,
    )
    outbox = OutboxItem(
        workspace_id=ticket.workspace_id,
        idempotency_key=message_id,
        detail=OutboundMessageRequested(
            idempotency_key=message_id,
            workspace_id=ticket.workspace_id,
            ticket_id=ticket.ticket_id,
            message_id=message_id,
            conversation_id=ticket.conversation_id,
            contact_id=ticket.contact_id,
            channel=ticket.channel,
            account_id=ticket.account_id,
            customer_id=conversation.customer_id,
            channel_message_id=message.channel_message_id,
            sender_id=sender_id,
            text=text,
            requested_at=now,
            **detail,
        ),
        created_at=now,
        expires_at=int((now + timedelta(days=keys.OUTBOX_TTL_DAYS)).timestamp()),
    )
    return message, outbox


def reply(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    command: ReplyCommand,
    *,
    agent_id: str,
    now: datetime,
) -> ReplyResult:
    """Store an agent's reply on an open ticket and queue it for the channel sender."""
    ticket = get_ticket(repo, workspace_id, ticket_id)
    message_id = reply_message_id(workspace_id, ticket_id, command.client_message_id)
    # No early "not open" answer: the transaction's ticket guard refuses it, and a retry of a
    # reply stored before the ticket closed still finds that reply (the message guard wins).
    conversation = repo.get_conversation(workspace_id, ticket.conversation_id)
    if conversation is None:
        raise NotFoundError("conversation not found", details={"ticket_id": ticket_id})
    # the channel's rules (text limit, messaging window): 422 naming the rule (issue 8); the
    # sender checks them again when it sends
    plan_send(ticket.channel, command.text, now=now, last_inbound_at=ticket.last_inbound_at)
    message, outbox = outbound(
        ticket,
        conversation,
        message_id,
        command.text,
        sender_id=agent_id,
        now=now,
        last_inbound_at=ticket.last_inbound_at,
        reply_token=_fresh_reply_token(repo, ticket, now),
    )
    for attempt in range(MAX_ATTEMPTS):
        try:
            stored = repo.add_reply(message=message, outbox=outbox)
        except TicketStatusChangedError as exc:
            current = exc.current
            if current is None:
                raise NotFoundError("ticket not found", details={"ticket_id": ticket_id}) from exc
            raise _not_open(ticket_id, current.status) from exc
        except WriteConflictError:
            # a concurrent transaction on the ticket (an incoming message): the write is
            # idempotent by its key, so trying again is safe
            _backoff(attempt)
            continue
        if stored is not None:
            return ReplyResult(stored, created=False)
        return ReplyResult(message, created=True)
    raise StorageUnavailableError(
        "the ticket kept changing while storing the reply; retry with the same client_message_id",
        details={"ticket_id": ticket_id},
    )
