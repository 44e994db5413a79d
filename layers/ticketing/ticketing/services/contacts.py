"""The contact view: a contact, its conversations (one per channel account) and its tickets
across channels, newest first."""

from __future__ import annotations

from dataclasses import dataclass

from ticketing.errors import NotFoundError
from ticketing.models.records import Contact, Conversation, Ticket
from ticketing.repository.base import Page, TicketRepository


@dataclass(frozen=True)
class ContactView:
    contact: Contact
    conversations: list[Conversation]
    tickets: Page[Ticket]


def get_contact_view(
    repo: TicketRepository,
    workspace_id: str,
    contact_id: str,
    *,
    tickets_limit: int,
    tickets_cursor: str | None,
) -> ContactView:
    contact = repo.get_contact(workspace_id, contact_id)
    if contact is None:
        raise NotFoundError("contact not found", details={"contact_id": contact_id})
    return ContactView(
        contact=contact,
        conversations=repo.list_contact_conversations(workspace_id, contact_id),
        tickets=repo.list_contact_tickets(workspace_id, contact_id, tickets_limit, tickets_cursor),
    )
