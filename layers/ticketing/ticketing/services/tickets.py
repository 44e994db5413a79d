"""Agent-side use cases over tickets: reads and status transitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ticketing import ids
from ticketing.errors import ConflictError, NotFoundError
from ticketing.models.records import HistoryEvent, Message, Ticket, TicketStatus
from ticketing.repository.base import (
    ConversationChangedError,
    Page,
    TicketRepository,
    TicketStatusChangedError,
    WriteConflictError,
)


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    messages: Page[Message]
    history: list[HistoryEvent]


def get_ticket(repo: TicketRepository, workspace_id: str, ticket_id: str) -> Ticket:
    ticket = repo.get_ticket(workspace_id, ticket_id)
    if ticket is None:
        raise NotFoundError("ticket not found", details={"ticket_id": ticket_id})
    return ticket


def get_ticket_detail(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    *,
    messages_limit: int,
    messages_cursor: str | None,
) -> TicketDetail:
    ticket = get_ticket(repo, workspace_id, ticket_id)
    messages = repo.list_messages(workspace_id, ticket_id, messages_limit, messages_cursor)
    return TicketDetail(ticket, messages, repo.list_history(workspace_id, ticket_id))


def list_tickets(
    repo: TicketRepository,
    workspace_id: str,
    status: TicketStatus,
    *,
    limit: int,
    cursor: str | None,
) -> Page[Ticket]:
    return repo.list_tickets(workspace_id, status, limit, cursor)


def leave_open(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    to_status: TicketStatus,
    *,
    actor: str,
    now: datetime,
) -> Ticket:
    """Close an open ticket or mark it spam (one transaction with the conversation guard)."""
    ticket = get_ticket(repo, workspace_id, ticket_id)
    if ticket.status is not TicketStatus.OPEN:
        raise ConflictError(
            f"ticket is {ticket.status.value}, not open",
            details={"ticket_id": ticket_id, "status": ticket.status.value},
        )
    event = "closed" if to_status is TicketStatus.CLOSED else "marked_spam"
    try:
        repo.leave_open(
            workspace_id=workspace_id,
            conversation_id=ticket.conversation_id,
            ticket_id=ticket_id,
            to_status=to_status,
            history=HistoryEvent(
                workspace_id=workspace_id,
                ticket_id=ticket_id,
                event_id=ids.ulid(),
                event=event,
                actor=actor,
                at=now,
                from_status=TicketStatus.OPEN,
                to_status=to_status,
            ),
            now=now,
        )
    except (TicketStatusChangedError, ConversationChangedError, WriteConflictError) as exc:
        raise ConflictError(
            "the ticket changed while updating it; reload and retry",
            details={"ticket_id": ticket_id},
        ) from exc
    return get_ticket(repo, workspace_id, ticket_id)
