"""Ticket domain events (README "Ticket events and analytics").

Every ticket change is already stored as an item in the transaction that makes it: a ``history``
item (created, reopened, closed, marked_spam, unmarked_spam, assigned, unassigned, labels_changed,
fields_changed, note_added, …) or a ``message`` item (a customer message, an agent reply, an echo
of a send). The table's stream carries each new one through an EventBridge Pipe (template.yaml
``TicketHistoryPipe`` / ``TicketMessagePipe``) onto the ticket-engine bus:

- ``TicketChanged`` for a history item, ``TicketMessageAdded`` for a message item, source
  ``ticket-engine``; the ``detail`` is the model below, rendered by the pipe's InputTemplate from
  attributes every such item has (tests/contract checks template and models agree).
- ``idempotency_key`` = the history event id / the message id. Delivery is at least once and
  events may arrive out of order: consumers dedupe on the key and must not rely on order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ticketing.models.records import (
    Channel,
    Direction,
    HistoryEvent,
    Message,
    TicketStatus,
)

EVENT_SOURCE = "ticket-engine"
TICKET_CHANGED = "TicketChanged"
TICKET_MESSAGE_ADDED = "TicketMessageAdded"
DETAIL_TYPES = (TICKET_CHANGED, TICKET_MESSAGE_ADDED)
# Stored item types that are domain events (the publisher's stream filter; tests/contract).
EVENT_ITEM_TYPES = {"history": TICKET_CHANGED, "message": TICKET_MESSAGE_ADDED}

MESSAGE_IN = "message_in"
MESSAGE_OUT = "message_out"


class TicketChangedDetail(BaseModel):
    """``detail`` of ``TicketChanged``: a new history item, as the history pipe renders it (every
    field is an attribute every history item has; tests/contract checks the InputTemplate)."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: str = Field(min_length=1, description="The history event id: dedupe on it.")
    workspace_id: str = Field(min_length=1)
    ticket_id: str = Field(min_length=1)
    event: str = Field(
        min_length=1,
        description="created, reopened, closed, marked_spam, unmarked_spam, assigned, unassigned,"
        " labels_changed, fields_changed, note_added, … (STATUS_AFTER: the status it leaves).",
    )
    actor: str = Field(description="Agent id, 'customer' or 'system'.")
    at: datetime = Field(description="When the change was made.")


class TicketMessageAddedDetail(BaseModel):
    """``detail`` of ``TicketMessageAdded``: a new message item (customer message, agent reply,
    echo of a send), as the message pipe renders it."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: str = Field(min_length=1, description="The message id: dedupe on it.")
    workspace_id: str = Field(min_length=1)
    ticket_id: str = Field(min_length=1)
    message_id: str = Field(min_length=1)
    direction: Direction
    channel: Channel
    sender_id: str
    received_at: datetime = Field(description="When Ticket Engine stored the message.")


# The ticket status a history event leaves behind (events that do not move the status: absent).
STATUS_AFTER: dict[str, TicketStatus] = {
    "created": TicketStatus.OPEN,
    "reopened": TicketStatus.OPEN,
    "unmarked_spam": TicketStatus.OPEN,
    "closed": TicketStatus.CLOSED,
    "marked_spam": TicketStatus.SPAM,
}


class TicketEvent(BaseModel):
    """One ticket event, whichever kind, as the analytics consumer reads it."""

    idempotency_key: str
    workspace_id: str
    ticket_id: str
    event: str = Field(description="A history event name, or message_in / message_out.")
    at: datetime

    @property
    def status_after(self) -> TicketStatus | None:
        return STATUS_AFTER.get(self.event)


def ticket_event(detail_type: str, detail: dict[str, Any]) -> TicketEvent:
    """Read a bus event's detail (ValidationError / ValueError when it is not one of ours)."""
    if detail_type == TICKET_CHANGED:
        changed = TicketChangedDetail.model_validate(detail)
        return TicketEvent(
            idempotency_key=changed.idempotency_key,
            workspace_id=changed.workspace_id,
            ticket_id=changed.ticket_id,
            event=changed.event,
            at=changed.at,
        )
    if detail_type == TICKET_MESSAGE_ADDED:
        added = TicketMessageAddedDetail.model_validate(detail)
        inbound = added.direction is Direction.INBOUND
        return TicketEvent(
            idempotency_key=added.idempotency_key,
            workspace_id=added.workspace_id,
            ticket_id=added.ticket_id,
            event=MESSAGE_IN if inbound else MESSAGE_OUT,
            at=added.received_at,
        )
    raise ValueError(f"not a ticket event: {detail_type!r}")


def changed_detail(event: HistoryEvent) -> TicketChangedDetail:
    """What the history pipe renders for a stored history event (tests, samples)."""
    return TicketChangedDetail(
        idempotency_key=event.event_id,
        workspace_id=event.workspace_id,
        ticket_id=event.ticket_id,
        event=event.event,
        actor=event.actor,
        at=event.at,
    )


def message_detail(message: Message) -> TicketMessageAddedDetail:
    """What the message pipe renders for a stored message (tests, samples)."""
    return TicketMessageAddedDetail(
        idempotency_key=message.message_id,
        workspace_id=message.workspace_id,
        ticket_id=message.ticket_id,
        message_id=message.message_id,
        direction=message.direction,
        channel=message.channel,
        sender_id=message.sender_id,
        received_at=message.received_at,
    )
