"""Agent-side use cases over tickets: reads and status transitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ticketing import ids
from ticketing.clock import after
from ticketing.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    TicketEngineError,
)
from ticketing.models.records import HistoryEvent, Message, Ticket, TicketStatus
from ticketing.repository.automation import automation_store
from ticketing.repository.base import (
    ConversationChangedError,
    DirectoryRecordMissingError,
    GuardFailedError,
    Page,
    TicketRepository,
    TicketStatusChangedError,
    WriteConflictError,
)
from ticketing.services.automation import NewTicketAutomation
from ticketing.services.ingest import MAX_ATTEMPTS, new_ticket


class TransitionCommand(Protocol):
    """close_ticket, reopen_ticket, mark_spam, unmark_spam: one shape for the API to call."""

    def __call__(
        self,
        repo: TicketRepository,
        workspace_id: str,
        ticket_id: str,
        *,
        actor: str,
        now: datetime,
        expected_version: int | None = None,
    ) -> Ticket: ...


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


def change_ticket(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    event: str,
    *,
    actor: str,
    now: datetime,
    set_values: dict[str, Any],
    remove: tuple[str, ...] = (),
    detail: str | None = None,
    expected_version: int | None = None,
) -> Ticket:
    """An agent edit that is not a status transition (assignee, labels, fields, …): one guarded
    transaction with its history event; If-Match → 412 when the ticket moved on."""
    ticket = get_ticket(repo, workspace_id, ticket_id)
    if expected_version is not None and ticket.version != expected_version:
        raise PreconditionFailedError(
            "the ticket changed since you loaded it",
            details={"ticket_id": ticket_id, "version": ticket.version},
        )
    try:
        repo.change_ticket(
            workspace_id=workspace_id,
            ticket_id=ticket_id,
            set_values=set_values,
            remove=remove,
            history=_history(ticket, event, actor=actor, now=now, to_status=None, detail=detail),
            expected_version=ticket.version,  # decided on this read: any change since → 409/412
        )
    except GuardFailedError as exc:
        raise _lost_race(ticket, exc) from exc
    return get_ticket(repo, workspace_id, ticket_id)


def stamp(ticket: Ticket, now: datetime) -> datetime:
    """The time of a transition decided on ``ticket``: ``now``, but never before the ticket's last
    activity or status change (history is ordered by time; writers' clocks differ)."""
    seen = ticket.last_activity_at
    if ticket.status_changed_at is not None and ticket.status_changed_at > seen:
        seen = ticket.status_changed_at
    return after(seen, now)


def parse_if_match(raw: str | None) -> int | None:
    """``If-Match`` carries the ticket version the agent saw: ``3``, ``"3"`` or ``W/"3"``."""
    if raw is None or raw.strip() in ("", "*"):
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise InvalidRequestError(
            "If-Match must be a ticket version", details={"if_match": raw[:40]}
        )
    return int(value)


def _history(
    ticket: Ticket,
    event: str,
    *,
    actor: str,
    now: datetime,
    to_status: TicketStatus | None,
    detail: str | None = None,
) -> HistoryEvent:
    return HistoryEvent(
        workspace_id=ticket.workspace_id,
        ticket_id=ticket.ticket_id,
        event_id=ids.ulid(),
        event=event,
        actor=actor,
        at=now,
        from_status=ticket.status,
        to_status=to_status,
        detail=detail,
    )


def _require(ticket: Ticket, status: TicketStatus, expected_version: int | None) -> None:
    if expected_version is not None and ticket.version != expected_version:
        raise PreconditionFailedError(
            "the ticket changed since you loaded it",
            details={"ticket_id": ticket.ticket_id, "version": ticket.version},
        )
    if ticket.status is not status:
        raise ConflictError(
            f"ticket is {ticket.status.value}, not {status.value}",
            details={"ticket_id": ticket.ticket_id, "status": ticket.status.value},
        )


def _lost_race(ticket: Ticket, exc: GuardFailedError) -> TicketEngineError:
    """The guarded write lost to a concurrent change: say what changed (never retry an agent's
    command blindly: they decided on what they saw)."""
    current = exc.current if isinstance(exc, TicketStatusChangedError) else None
    if current is not None and current.version != ticket.version:
        return PreconditionFailedError(
            "the ticket changed while updating it; reload and retry",
            details={"ticket_id": ticket.ticket_id, "version": current.version},
        )
    if isinstance(exc, ConversationChangedError) and exc.current is not None:
        open_id = exc.current.open_ticket_id
        if open_id and open_id != ticket.ticket_id:
            return ConflictError(
                "the conversation has another open ticket",
                details={"ticket_id": ticket.ticket_id, "open_ticket_id": open_id},
            )
    return ConflictError(
        "the ticket changed while updating it; reload and retry",
        details={"ticket_id": ticket.ticket_id},
    )


def leave_open(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    to_status: TicketStatus,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Ticket:
    """Close an open ticket or mark it spam (one transaction with the conversation guard)."""
    ticket = get_ticket(repo, workspace_id, ticket_id)
    _require(ticket, TicketStatus.OPEN, expected_version)
    now = stamp(ticket, now)
    event = "closed" if to_status is TicketStatus.CLOSED else "marked_spam"
    try:
        repo.leave_open(
            workspace_id=workspace_id,
            conversation_id=ticket.conversation_id,
            ticket_id=ticket_id,
            to_status=to_status,
            history=_history(ticket, event, actor=actor, now=now, to_status=to_status),
            now=now,
            expected_version=ticket.version,  # decided on this read: any change since → 409/412
        )
    except GuardFailedError as exc:
        raise _lost_race(ticket, exc) from exc
    return get_ticket(repo, workspace_id, ticket_id)


def close_ticket(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Ticket:
    return leave_open(
        repo,
        workspace_id,
        ticket_id,
        TicketStatus.CLOSED,
        actor=actor,
        now=now,
        expected_version=expected_version,
    )


def mark_spam(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Ticket:
    """open or closed → spam. A spam ticket keeps the conversation's later messages, unsurfaced."""
    ticket = get_ticket(repo, workspace_id, ticket_id)
    if ticket.status is TicketStatus.OPEN:
        return leave_open(
            repo,
            workspace_id,
            ticket_id,
            TicketStatus.SPAM,
            actor=actor,
            now=now,
            expected_version=expected_version,
        )
    _require(ticket, TicketStatus.CLOSED, expected_version)
    now = stamp(ticket, now)
    conversation = repo.get_conversation(workspace_id, ticket.conversation_id)
    try:
        repo.spam_closed_ticket(
            workspace_id=workspace_id,
            conversation_id=ticket.conversation_id,
            ticket_id=ticket_id,
            is_latest=conversation is not None and conversation.latest_ticket_id == ticket_id,
            history=_history(
                ticket, "marked_spam", actor=actor, now=now, to_status=TicketStatus.SPAM
            ),
            expected_version=ticket.version,  # decided on this read: any change since → 409/412
        )
    except GuardFailedError as exc:
        raise _lost_race(ticket, exc) from exc
    return get_ticket(repo, workspace_id, ticket_id)


def _back_to_open(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    from_status: TicketStatus,
    event: str,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None,
) -> Ticket:
    ticket = get_ticket(repo, workspace_id, ticket_id)
    _require(ticket, from_status, expected_version)
    now = stamp(ticket, now)
    conversation = repo.get_conversation(workspace_id, ticket.conversation_id)
    if conversation is None:
        raise NotFoundError("conversation not found", details={"ticket_id": ticket_id})
    if conversation.open_ticket_id and conversation.open_ticket_id != ticket_id:
        raise ConflictError(
            "the conversation has another open ticket",
            details={"ticket_id": ticket_id, "open_ticket_id": conversation.open_ticket_id},
        )
    if conversation.latest_ticket_id != ticket_id:
        raise ConflictError(
            "only the conversation's latest ticket can be opened again",
            details={"ticket_id": ticket_id, "latest_ticket_id": conversation.latest_ticket_id},
        )
    try:
        repo.reopen_ticket(
            seen=conversation,
            ticket_id=ticket_id,
            message=None,
            history=_history(ticket, event, actor=actor, now=now, to_status=TicketStatus.OPEN),
            now=now,
            from_status=from_status,
            expected_version=ticket.version,  # decided on this read: any change since → 409/412
        )
    except GuardFailedError as exc:
        raise _lost_race(ticket, exc) from exc
    return get_ticket(repo, workspace_id, ticket_id)


def reopen_ticket(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Ticket:
    """closed → open by an agent: the reopen window does not apply."""
    return _back_to_open(
        repo,
        workspace_id,
        ticket_id,
        TicketStatus.CLOSED,
        "reopened",
        actor=actor,
        now=now,
        expected_version=expected_version,
    )


def unmark_spam(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Ticket:
    """spam → open (409 if the conversation has another open ticket)."""
    return _back_to_open(
        repo,
        workspace_id,
        ticket_id,
        TicketStatus.SPAM,
        "unmarked_spam",
        actor=actor,
        now=now,
        expected_version=expected_version,
    )


def open_ticket(
    repo: TicketRepository,
    workspace_id: str,
    conversation_id: str,
    *,
    actor: str,
    now: datetime,
) -> Ticket:
    """An agent opens a ticket on a conversation by hand (409 naming the open one, if any)."""
    conversation = repo.get_conversation(workspace_id, conversation_id)
    if conversation is None:
        raise NotFoundError("conversation not found", details={"conversation_id": conversation_id})
    number: int | None = None
    known = conversation
    rules = NewTicketAutomation(  # assignment automation (a hand-opened ticket has no text)
        automation_store(repo),
        workspace_id,
        None,
        contact=lambda: repo.get_contact(workspace_id, known.contact_id),
    )
    for _ in range(MAX_ATTEMPTS):
        if conversation is None:
            raise NotFoundError(
                "conversation not found", details={"conversation_id": conversation_id}
            )
        if conversation.open_ticket_id:
            raise ConflictError(
                "the conversation already has an open ticket",
                details={
                    "conversation_id": conversation_id,
                    "open_ticket_id": conversation.open_ticket_id,
                },
            )
        if number is None:
            number = repo.allocate_ticket_number(workspace_id)
        ticket = new_ticket(conversation, number, conversation.latest_ticket_id, now, inbound=0)
        ticket, automated = rules.apply(ticket, now)
        try:
            repo.create_ticket(
                seen=conversation,
                ticket=ticket,
                message=None,
                history=HistoryEvent(
                    workspace_id=workspace_id,
                    ticket_id=ticket.ticket_id,
                    event_id=ids.ulid(),
                    event="created",
                    actor=actor,
                    at=now,
                    from_status=None,
                    to_status=TicketStatus.OPEN,
                    detail="opened by an agent",
                ),
                extra_history=automated,
            )
            return ticket
        except ConversationChangedError as changed:
            conversation = changed.current
        except DirectoryRecordMissingError as refused:
            rules.refused(refused.missing)  # the automated assignee is gone: assign again
        except WriteConflictError:
            continue
    raise ConflictError(
        "the conversation kept changing; retry", details={"conversation_id": conversation_id}
    )
