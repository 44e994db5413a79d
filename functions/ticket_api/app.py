"""The agent API. Thin: authorise from the Cognito claims, call a service, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from ticketing.auth import Principal
from ticketing.http import ERRORS, caller, rest_resolver
from ticketing.models.records import TicketStatus
from ticketing.models.responses import TicketDetailResponse, TicketListResponse
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


@instrument(correlation_id_path="requestContext.requestId", emits_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
