"""Pure ticket rules (no I/O): where an incoming customer message goes.

shared/DOMAIN.md: append to the open ticket; else reopen the latest ticket if it was closed within
the workspace's reopen window; else append to it if it is spam; else create a new ticket linked to
it.
The decision is made on the conversation item (the per-conversation guard) and carried out with
conditional writes that re-check exactly the facts it was based on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketing.models.records import Conversation, TicketStatus, WorkspaceSettings


@dataclass(frozen=True)
class StartConversation:
    """No conversation yet: create it with its first ticket."""


@dataclass(frozen=True)
class AppendToTicket:
    ticket_id: str
    expected_status: TicketStatus


@dataclass(frozen=True)
class ReopenTicket:
    ticket_id: str


@dataclass(frozen=True)
class CreateTicket:
    previous_ticket_id: str | None


Route = StartConversation | AppendToTicket | ReopenTicket | CreateTicket


def within_reopen_window(
    closed_at: datetime | None, window_seconds: int | None, now: datetime
) -> bool:
    if closed_at is None or window_seconds is None:
        return False
    return now - closed_at < timedelta(seconds=window_seconds)


def route_customer_message(
    conversation: Conversation | None, settings: WorkspaceSettings, now: datetime
) -> Route:
    if conversation is None:
        return StartConversation()
    if conversation.open_ticket_id is not None:
        return AppendToTicket(conversation.open_ticket_id, TicketStatus.OPEN)
    latest = conversation.latest_ticket_id
    if latest is None:
        return CreateTicket(previous_ticket_id=None)
    status = conversation.latest_ticket_status
    if status is TicketStatus.CLOSED and within_reopen_window(
        conversation.latest_closed_at, settings.reopen_window_seconds, now
    ):
        return ReopenTicket(latest)
    if status is TicketStatus.SPAM:
        return AppendToTicket(latest, TicketStatus.SPAM)
    return CreateTicket(previous_ticket_id=latest)
