"""Incoming channel messages → tickets (shared/DOMAIN.md "Ticket statuses and transitions").

The decision is a pure function of the conversation guard (``rules.route_customer_message``); each
decision is carried out by one guarded write. When a guard fails, the write hands back the state it
found and the decision is made again, so concurrent writers converge without read-then-write races.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ticketing import ids
from ticketing.clock import after
from ticketing.errors import StorageUnavailableError
from ticketing.models.commands import (
    CustomerMessageReceived,
    DeliveryStatusReported,
    MessageDeleted,
    OutboundMessageSeen,
)
from ticketing.models.records import (
    Assignee,
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    HistoryEvent,
    Message,
    Ticket,
    TicketStatus,
    WorkspaceSettings,
)
from ticketing.repository.base import (
    ConversationChangedError,
    DirectoryRecordMissingError,
    DuplicateMessageError,
    IdentityTakenError,
    TicketRepository,
    TicketStatusChangedError,
    WriteConflictError,
)
from ticketing.rules import (
    AppendToTicket,
    CreateTicket,
    ReopenTicket,
    StartConversation,
    route_customer_message,
)

if TYPE_CHECKING:
    from ticketing.repository.automation import AutomationStore
    from ticketing.services.automation import NewTicketAutomation

MAX_ATTEMPTS = 10
CUSTOMER = "customer"

Outcome = Literal[
    "appended",
    "created",
    "reopened",
    "spam",
    "duplicate",
    "outbound_stored",
    "outbound_skipped",
    "outbound_matched",
    "status_updated",
    "status_stale",
    "deleted_marked",
    "deleted_unknown",
]


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    ticket_id: str | None = None
    message_id: str | None = None


def conversation_id_for(channel: str, account_id: str, customer_id: str) -> str:
    """One conversation per contact per channel account: its id is derived, never looked up."""
    return ids.stable_id("cv_", channel, account_id, customer_id)


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311 - jitter, not crypto


def history_event(
    workspace_id: str,
    ticket_id: str,
    event: str,
    now: datetime,
    *,
    actor: str,
    from_status: TicketStatus | None,
    to_status: TicketStatus | None,
    detail: str | None = None,
) -> HistoryEvent:
    return HistoryEvent(
        workspace_id=workspace_id,
        ticket_id=ticket_id,
        event_id=ids.ulid(),
        event=event,
        actor=actor,
        at=now,
        from_status=from_status,
        to_status=to_status,
        detail=detail,
    )


def new_ticket(
    conversation: Conversation,
    number: int,
    previous: str | None,
    now: datetime,
    *,
    inbound: int = 1,
) -> Ticket:
    """A new open, unassigned ticket; ``inbound`` = the messages it is created with."""
    return Ticket(
        workspace_id=conversation.workspace_id,
        ticket_id="t_" + ids.ulid(),
        number=number,
        conversation_id=conversation.conversation_id,
        contact_id=conversation.contact_id,
        channel=conversation.channel,
        account_id=conversation.account_id,
        status=TicketStatus.OPEN,
        assignee=Assignee(),
        created_at=now,
        last_activity_at=now,
        previous_ticket_id=previous,
        messages_in=inbound,
        last_inbound_at=now if inbound else None,  # the messaging windows run from it
    )


MAX_STORED_TEXT_CHARS = 20_000  # ≤ 80 KB of UTF-8; channels send at most a few thousand
MAX_STORED_ATTACHMENTS = 50


def _draft(
    workspace_id: str,
    cmd: CustomerMessageReceived | OutboundMessageSeen,
    direction: Direction,
    *,
    sender_id: str,
    now: datetime,
) -> Message:
    """The message as it will be stored, before the routing decision names its ticket. Texts and
    attachment lists beyond what any channel sends are cut (a DynamoDB item holds 400 KB: an
    oversized one would be refused on every redelivery, and the channel would retry forever)."""
    text = cmd.text
    truncated = text is not None and len(text) > MAX_STORED_TEXT_CHARS
    return Message(
        workspace_id=workspace_id,
        message_id="m_" + ids.ulid(),
        ticket_id="",
        conversation_id=conversation_id_for(cmd.channel, cmd.account_id, cmd.customer_id),
        channel=cmd.channel,
        account_id=cmd.account_id,
        direction=direction,
        channel_message_id=cmd.channel_message_id,
        sender_id=sender_id,
        text=text[:MAX_STORED_TEXT_CHARS] if text is not None and truncated else text,
        text_truncated=truncated,
        attachments=list(cmd.attachments)[:MAX_STORED_ATTACHMENTS],
        sent_at=cmd.sent_at,
        received_at=now,
        reply_token=getattr(cmd, "reply_token", None),
    )


def ingest_customer_message(
    repo: TicketRepository,
    workspace_id: str,
    cmd: CustomerMessageReceived,
    now: datetime,
    *,
    automation: AutomationStore | None = None,
) -> IngestResult:
    draft = _draft(workspace_id, cmd, Direction.INBOUND, sender_id=cmd.customer_id, now=now)
    conversation_id = draft.conversation_id
    context = repo.load_routing_context(workspace_id, conversation_id, draft)
    if context.message_exists:
        return IngestResult("duplicate")
    if context.conversation and context.conversation.conversation_id != conversation_id:
        # an alias (a commenter's PSID learned from a private reply): their comment conversation
        conversation_id = context.conversation.conversation_id
        draft = draft.model_copy(update={"conversation_id": conversation_id})
    settings = context.workspace or WorkspaceSettings(workspace_id=workspace_id)
    conversation = context.conversation
    known_contact_id: str | None = None
    number: int | None = None
    new_contact: Contact | None = None

    def contact() -> Contact | None:
        """The new ticket's contact, for rules on contact attributes (read only if asked)."""
        if new_contact is not None:
            return new_contact
        contact_id = known_contact_id or (conversation.contact_id if conversation else None)
        return repo.get_contact(workspace_id, contact_id) if contact_id else None

    decided: list[NewTicketAutomation] = []

    def rules() -> NewTicketAutomation:
        """The assignment rules for a new ticket: built (and imported) only when one is created,
        so an append never pays for them (cold start)."""
        if not decided:
            from ticketing.repository.automation import automation_store
            from ticketing.services.automation import NewTicketAutomation

            decided.append(
                NewTicketAutomation(
                    automation or automation_store(repo),
                    workspace_id,
                    context.automation_version,
                    text=cmd.text,
                    contact=contact,
                )
            )
        return decided[0]

    for attempt in range(MAX_ATTEMPTS):
        route = route_customer_message(conversation, settings, now)
        try:
            if isinstance(route, AppendToTicket):
                message = draft.model_copy(update={"ticket_id": route.ticket_id})
                repo.append_message(
                    message=message, expected_status=route.expected_status, activity_at=now
                )
                outcome: Outcome = (
                    "spam" if route.expected_status is TicketStatus.SPAM else "appended"
                )
                return IngestResult(outcome, route.ticket_id, message.message_id)

            if isinstance(route, ReopenTicket):
                assert conversation is not None
                message = draft.model_copy(update={"ticket_id": route.ticket_id})
                # never stamped before the close it follows (history is ordered by time)
                reopened_at = after(conversation.latest_closed_at, now)
                repo.reopen_ticket(
                    seen=conversation,
                    ticket_id=route.ticket_id,
                    message=message,
                    history=history_event(
                        workspace_id,
                        route.ticket_id,
                        "reopened",
                        reopened_at,
                        actor=CUSTOMER,
                        from_status=TicketStatus.CLOSED,
                        to_status=TicketStatus.OPEN,
                        detail="reopened by customer message",
                    ),
                    now=reopened_at,
                )
                return IngestResult("reopened", route.ticket_id, message.message_id)

            if number is None:
                number = repo.allocate_ticket_number(workspace_id)

            if isinstance(route, CreateTicket):
                assert conversation is not None
                ticket = new_ticket(conversation, number, route.previous_ticket_id, now)
                ticket, automated = rules().apply(ticket, now)
                message = draft.model_copy(update={"ticket_id": ticket.ticket_id})
                repo.create_ticket(
                    seen=conversation,
                    ticket=ticket,
                    message=message,
                    history=history_event(
                        workspace_id,
                        ticket.ticket_id,
                        "created",
                        now,
                        actor=CUSTOMER,
                        from_status=None,
                        to_status=TicketStatus.OPEN,
                        detail="customer message",
                    ),
                    extra_history=automated,
                )
                return IngestResult("created", ticket.ticket_id, message.message_id)

            assert isinstance(route, StartConversation)
            new_contact = None
            if known_contact_id is None:
                new_contact = Contact(
                    workspace_id=workspace_id,
                    contact_id="ct_" + ids.ulid(),
                    display_name=cmd.customer_name,
                    created_at=now,
                )
            fresh = Conversation(
                workspace_id=workspace_id,
                conversation_id=conversation_id,
                contact_id=known_contact_id or (new_contact.contact_id if new_contact else ""),
                channel=cmd.channel,
                account_id=cmd.account_id,
                customer_id=cmd.customer_id,
                created_at=now,
            )
            ticket, automated = rules().apply(new_ticket(fresh, number, None, now), now)
            fresh = fresh.model_copy(
                update={
                    "open_ticket_id": ticket.ticket_id,
                    "latest_ticket_id": ticket.ticket_id,
                    "latest_ticket_status": TicketStatus.OPEN,
                }
            )
            message = draft.model_copy(update={"ticket_id": ticket.ticket_id})
            repo.start_conversation(
                new_contact=new_contact,
                conversation=fresh,
                ticket=ticket,
                message=message,
                history=history_event(
                    workspace_id,
                    ticket.ticket_id,
                    "created",
                    now,
                    actor=CUSTOMER,
                    from_status=None,
                    to_status=TicketStatus.OPEN,
                    detail="first customer message",
                ),
                extra_history=automated,
            )
            return IngestResult("created", ticket.ticket_id, message.message_id)

        except DuplicateMessageError:
            return IngestResult("duplicate")
        except ConversationChangedError as changed:
            conversation = changed.current
        except TicketStatusChangedError:
            # The ticket moved (closed, marked spam) between our read and our write: the guard
            # item is the truth, so read it once more and decide again.
            conversation = repo.get_conversation(workspace_id, conversation_id)
        except IdentityTakenError as taken:
            known_contact_id = taken.contact_id
        except DirectoryRecordMissingError as refused:
            rules().refused(refused.missing)  # the automated assignee is gone: assign again
        except WriteConflictError:
            _backoff(attempt)
    raise StorageUnavailableError(
        "the conversation kept changing; retry later",
        details={"conversation_id": conversation_id},
    )


def record_outbound_message(
    repo: TicketRepository,
    workspace_id: str,
    cmd: OutboundMessageSeen,
    now: datetime,
    *,
    own_app_id: str | None,
) -> IngestResult:
    """An echo of a message the shop sent. It never creates or reopens a ticket: it is stored on
    the conversation's open ticket, else on its latest ticket, else not at all."""
    if _confirm_own_echo(repo, workspace_id, cmd, now):
        # our own send (issue 8): its metadata names the stored reply, now recorded as sent
        return IngestResult("outbound_matched")
    if own_app_id and cmd.app_id == own_app_id:
        return IngestResult("outbound_skipped")  # our own send: the sender already stored it
    draft = _draft(workspace_id, cmd, Direction.OUTBOUND, sender_id=cmd.account_id, now=now)
    conversation_id = draft.conversation_id
    context = repo.load_routing_context(workspace_id, conversation_id, draft)
    if context.message_exists:
        return IngestResult("duplicate")
    conversation = context.conversation
    if conversation is not None and conversation.conversation_id != conversation_id:
        draft = draft.model_copy(update={"conversation_id": conversation.conversation_id})
    target = conversation and (conversation.open_ticket_id or conversation.latest_ticket_id)
    if not target:
        return IngestResult("outbound_skipped")
    message = draft.model_copy(update={"ticket_id": target})
    for attempt in range(MAX_ATTEMPTS):
        try:
            repo.append_message(message=message, expected_status=None, activity_at=now)
            return IngestResult("outbound_stored", target, message.message_id)
        except DuplicateMessageError:
            return IngestResult("duplicate")
        except WriteConflictError:
            _backoff(attempt)
    raise StorageUnavailableError("the ticket kept changing; retry later")


def _confirm_own_echo(
    repo: TicketRepository, workspace_id: str, cmd: OutboundMessageSeen, now: datetime
) -> bool:
    from ticketing.channels.messenger_send import message_id_from_metadata
    from ticketing.repository.delivery import DeliveryRepository
    from ticketing.services.delivery import confirm_echo

    message_id = message_id_from_metadata(cmd.metadata)
    store = DeliveryRepository.of(repo)
    if message_id is None or store is None:
        return False
    return confirm_echo(
        store,
        workspace_id=workspace_id,
        channel=cmd.channel,
        account_id=cmd.account_id,
        message_id=message_id,
        channel_message_id=cmd.channel_message_id,
        now=now,
    )


def apply_delivery_status(
    repo: TicketRepository, workspace_id: str, cmd: DeliveryStatusReported
) -> IngestResult:
    """Statuses arrive unordered: the conditional update only ever moves a message forward."""
    moved = repo.update_delivery_status(
        workspace_id=workspace_id,
        channel=cmd.channel,
        account_id=cmd.account_id,
        channel_message_id=cmd.channel_message_id,
        status=DeliveryStatus(cmd.status),
        at=cmd.at,
        error=cmd.error,
    )
    return IngestResult("status_updated" if moved else "status_stale")


def mark_message_deleted(
    repo: TicketRepository, workspace_id: str, cmd: MessageDeleted
) -> IngestResult:
    marked = repo.mark_message_deleted(
        workspace_id=workspace_id,
        channel=cmd.channel,
        account_id=cmd.account_id,
        channel_message_id=cmd.channel_message_id,
        at=cmd.at,
    )
    return IngestResult("deleted_marked" if marked else "deleted_unknown")
