"""The agent API. Thin: authorise from the Cognito claims, call a service, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from ticketing.auth import Principal
from ticketing.clock import utc_now
from ticketing.http import ERRORS, caller, rest_resolver
from ticketing.models.records import Ticket, TicketStatus
from ticketing.models.responses import (
    OpenTicketCommand,
    TicketDetailResponse,
    TicketListResponse,
)
from ticketing.observability import instrument
from ticketing.repository.dynamodb import get_repository
from ticketing.services import tickets

app = rest_resolver()


def principal() -> Principal:
    return caller(app)


@app.get("/tickets", responses=ERRORS)
def list_tickets(
    status: Annotated[TicketStatus, Query(description="Which inbox")] = TicketStatus.OPEN,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> TicketListResponse:
    who = principal()
    page = tickets.list_tickets(
        get_repository(), who.workspace_id, status, limit=limit, cursor=cursor
    )
    return TicketListResponse(items=page.items, next_cursor=page.next_cursor)


@app.get("/tickets/<ticket_id>", responses=ERRORS)
def get_ticket(
    ticket_id: Annotated[str, Path(min_length=1, max_length=64)],
    messages_limit: Annotated[int, Query(ge=1, le=100)] = 50,
    messages_cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> TicketDetailResponse:
    who = principal()
    detail = tickets.get_ticket_detail(
        get_repository(),
        who.workspace_id,
        ticket_id,
        messages_limit=messages_limit,
        messages_cursor=messages_cursor,
    )
    return TicketDetailResponse(
        ticket=detail.ticket,
        messages=detail.messages.items,
        next_messages_cursor=detail.messages.next_cursor,
        history=detail.history,
    )


TicketId = Annotated[str, Path(min_length=1, max_length=64)]


def if_match() -> int | None:
    """Optimistic concurrency: ``If-Match: <version>`` (quotes and W/ tolerated)."""
    raw = app.current_event.headers.get("If-Match")  # case-insensitive in Powertools v3
    return tickets.parse_if_match(raw)


@app.post("/tickets", responses=ERRORS)
def open_ticket(command: Annotated[OpenTicketCommand, Body()]) -> tuple[Ticket, int]:
    """Open a ticket by hand on a conversation (409 naming the open ticket if there is one)."""
    who = principal()
    ticket = tickets.open_ticket(
        get_repository(),
        who.workspace_id,
        command.conversation_id,
        actor=who.agent_id,
        now=utc_now(),
    )
    return ticket, 201


@app.post("/tickets/<ticket_id>/close", responses=ERRORS)
def close_ticket(ticket_id: TicketId) -> Ticket:
    who = principal()
    return tickets.close_ticket(
        get_repository(),
        who.workspace_id,
        ticket_id,
        actor=who.agent_id,
        now=utc_now(),
        expected_version=if_match(),
    )


@app.post("/tickets/<ticket_id>/reopen", responses=ERRORS)
def reopen_ticket(ticket_id: TicketId) -> Ticket:
    """Manual reopen (the reopen window does not apply); 409 if another ticket is open."""
    who = principal()
    return tickets.reopen_ticket(
        get_repository(),
        who.workspace_id,
        ticket_id,
        actor=who.agent_id,
        now=utc_now(),
        expected_version=if_match(),
    )


@app.post("/tickets/<ticket_id>/spam", responses=ERRORS)
def mark_spam(ticket_id: TicketId) -> Ticket:
    who = principal()
    return tickets.mark_spam(
        get_repository(),
        who.workspace_id,
        ticket_id,
        actor=who.agent_id,
        now=utc_now(),
        expected_version=if_match(),
    )


@app.post("/tickets/<ticket_id>/unspam", responses=ERRORS)
def unmark_spam(ticket_id: TicketId) -> Ticket:
    """Back to open; 409 if the conversation has another open ticket."""
    who = principal()
    return tickets.unmark_spam(
        get_repository(),
        who.workspace_id,
        ticket_id,
        actor=who.agent_id,
        now=utc_now(),
        expected_version=if_match(),
    )


@instrument(correlation_id_path="requestContext.requestId", emits_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
