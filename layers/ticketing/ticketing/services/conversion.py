"""Converting a public interaction (a comment, a review) into the customer's DM ticket
(shared/DOMAIN.md "Comments and reviews").

``join_or_open_ticket`` finds or creates the contact and its conversation exactly as ingest does
(identity item created with the contact; the conversation id derived from channel, account and
customer id), then applies the ticket rules to the conversation guard:

- an open ticket → join it;
- the latest ticket closed within the workspace's reopen window → reopen it;
- otherwise (none, closed long ago, spam) → a new open ticket, linked to the previous one.

Every write is guarded by the conversation item, and a lost race decides again from the state the
failed write returned, so concurrent conversions (and a racing incoming DM) converge on one open
ticket. The ticket → source link is written idempotently (``attribute_not_exists``), in the same
transaction when the ticket is created. The source → ticket link (``comment.ticket_id``,
``review.ticket_id``) is each caller's own conditional write.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime

from ticketing import ids
from ticketing.clock import after
from ticketing.errors import StorageUnavailableError
from ticketing.models.records import (
    Channel,
    Contact,
    Conversation,
    Ticket,
    TicketStatus,
)
from ticketing.repository.automation import automation_store
from ticketing.repository.base import (
    ConversationChangedError,
    DirectoryRecordMissingError,
    IdentityTakenError,
    TicketRepository,
    TicketStatusChangedError,
    WriteConflictError,
)
from ticketing.repository.conversion import ConversionStore
from ticketing.rules import AppendToTicket, ReopenTicket, StartConversation, route_customer_message
from ticketing.services.automation import NewTicketAutomation
from ticketing.services.ingest import conversation_id_for, history_event, new_ticket

MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class ConversionResult:
    ticket: Ticket
    created: bool  # True: this call opened a new ticket (False: joined or reopened one)


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311 - jitter, not crypto


def join_or_open_ticket(
    repo: TicketRepository,
    *,
    workspace_id: str,
    channel: Channel,
    account_id: str,
    customer_id: str,
    display_name: str | None,
    source_kind: str,
    source_id: str,
    actor: str,
    now: datetime,
) -> ConversionResult:
    """The customer's open DM ticket on (channel, account, customer), joined or opened, linked to
    the source (``source_kind`` e.g. ``comment``/``review``, ``source_id`` its id)."""
    store = ConversionStore.of(repo)
    conversation_id = conversation_id_for(channel, account_id, customer_id)
    conversation, settings, rules_version = store.load(workspace_id, conversation_id)
    detail = f"converted from {source_kind} {source_id}"
    known_contact_id: str | None = None
    number: int | None = None

    def contact() -> Contact | None:
        contact_id = known_contact_id or (conversation.contact_id if conversation else None)
        return repo.get_contact(workspace_id, contact_id) if contact_id else None

    # assignment automation, as for any new ticket (a conversion carries no message text)
    rules = NewTicketAutomation(
        automation_store(repo), workspace_id, rules_version, contact=contact
    )

    for attempt in range(MAX_ATTEMPTS):
        route = route_customer_message(conversation, settings, now)
        try:
            if isinstance(route, AppendToTicket) and route.expected_status is TicketStatus.OPEN:
                ticket = repo.get_ticket(workspace_id, route.ticket_id)
                if ticket is None or ticket.status is not TicketStatus.OPEN:
                    # closed between the guard read and this one: decide again on the guard
                    conversation = repo.get_conversation(workspace_id, conversation_id)
                    continue
                store.link_source(
                    workspace_id=workspace_id,
                    ticket_id=ticket.ticket_id,
                    kind=source_kind,
                    source_id=source_id,
                    at=now,
                )
                return ConversionResult(ticket, created=False)

            if isinstance(route, ReopenTicket):
                assert conversation is not None
                reopened_at = after(conversation.latest_closed_at, now)  # after the close
                repo.reopen_ticket(
                    seen=conversation,
                    ticket_id=route.ticket_id,
                    message=None,
                    history=history_event(
                        workspace_id,
                        route.ticket_id,
                        "reopened",
                        reopened_at,
                        actor=actor,
                        from_status=TicketStatus.CLOSED,
                        to_status=TicketStatus.OPEN,
                        detail=detail,
                    ),
                    now=reopened_at,
                )
                store.link_source(
                    workspace_id=workspace_id,
                    ticket_id=route.ticket_id,
                    kind=source_kind,
                    source_id=source_id,
                    at=now,
                )
                reopened = repo.get_ticket(workspace_id, route.ticket_id)
                assert reopened is not None
                return ConversionResult(reopened, created=False)

            if number is None:
                number = repo.allocate_ticket_number(workspace_id)

            if isinstance(route, StartConversation):
                new_contact = None
                if known_contact_id is None:
                    new_contact = Contact(
                        workspace_id=workspace_id,
                        contact_id="ct_" + ids.ulid(),
                        display_name=display_name,
                        created_at=now,
                    )
                fresh = Conversation(
                    workspace_id=workspace_id,
                    conversation_id=conversation_id,
                    contact_id=known_contact_id or (new_contact.contact_id if new_contact else ""),
                    channel=channel,
                    account_id=account_id,
                    customer_id=customer_id,
                    created_at=now,
                )
                ticket, automated = rules.apply(
                    new_ticket(fresh, number, None, now, inbound=0), now
                )
                fresh = fresh.model_copy(
                    update={
                        "open_ticket_id": ticket.ticket_id,
                        "latest_ticket_id": ticket.ticket_id,
                        "latest_ticket_status": TicketStatus.OPEN,
                    }
                )
                store.start_conversation(
                    new_contact=new_contact,
                    conversation=fresh,
                    ticket=ticket,
                    history=history_event(
                        workspace_id,
                        ticket.ticket_id,
                        "created",
                        now,
                        actor=actor,
                        from_status=None,
                        to_status=TicketStatus.OPEN,
                        detail=detail,
                    ),
                    source_kind=source_kind,
                    source_id=source_id,
                    extra_history=automated,
                )
                return ConversionResult(ticket, created=True)

            # no open ticket (none yet, closed outside the window, or spam): a new one
            assert conversation is not None
            ticket, automated = rules.apply(
                new_ticket(conversation, number, conversation.latest_ticket_id, now, inbound=0), now
            )
            store.create_ticket(
                seen=conversation,
                ticket=ticket,
                history=history_event(
                    workspace_id,
                    ticket.ticket_id,
                    "created",
                    now,
                    actor=actor,
                    from_status=None,
                    to_status=TicketStatus.OPEN,
                    detail=detail,
                ),
                source_kind=source_kind,
                source_id=source_id,
                extra_history=automated,
            )
            return ConversionResult(ticket, created=True)

        except ConversationChangedError as changed:
            conversation = changed.current
        except TicketStatusChangedError:
            conversation = repo.get_conversation(workspace_id, conversation_id)
        except IdentityTakenError as taken:
            known_contact_id = taken.contact_id
        except DirectoryRecordMissingError as refused:
            rules.refused(refused.missing)  # the automated assignee is gone: assign again
        except WriteConflictError:
            _backoff(attempt)
    raise StorageUnavailableError(
        "the conversation kept changing; retry later",
        details={"conversation_id": conversation_id},
    )
