"""The agent API. Thin: authorise from the Cognito claims, call a service, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from ticketing.auth import Principal, principal_from_claims
from ticketing.errors import TicketEngineError
from ticketing.models.records import TicketStatus
from ticketing.models.responses import ErrorResponse, TicketDetailResponse, TicketListResponse
from ticketing.observability import instrument, logger
from ticketing.repository.dynamodb import get_repository
from ticketing.services import tickets

app = APIGatewayRestResolver(enable_validation=True)

ERRORS: dict[int, OpenAPIResponse] = {
    code: {"description": text, "content": {"application/json": {"model": ErrorResponse}}}
    for code, text in {
        401: "Missing or invalid credentials",
        403: "Not allowed",
        404: "Not found",
        422: "Invalid request",
    }.items()
}


def principal() -> Principal:
    claims = app.current_event.request_context.authorizer.claims
    return principal_from_claims(claims)


def _error(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response[str]:
    body = ErrorResponse.model_validate(
        {"error": {"code": code, "message": message, "details": details or {}}}
    )
    return Response(
        status_code=status, content_type="application/json", body=body.model_dump_json()
    )


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


@app.exception_handler(TicketEngineError)
def domain_error(exc: TicketEngineError) -> Response[str]:
    if exc.status_code >= 500:
        logger.exception("request failed", extra={"code": exc.code})
    return _error(exc.status_code, exc.code, exc.message, exc.details)


@app.exception_handler(RequestValidationError)
def invalid_request(exc: RequestValidationError) -> Response[str]:
    errors = [
        {"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": e.get("msg", "")}
        for e in exc.errors()
    ]
    return _error(422, "validation_error", "the request is not valid", {"errors": errors})


@app.not_found
def route_not_found(exc: RouteNotFound) -> Response[str]:
    return _error(404, "not_found", "no such route")


@app.exception_handler(Exception)
def unexpected_error(exc: Exception) -> Response[str]:
    logger.exception("request failed")
    return _error(500, "internal_error", "internal error")


@instrument(correlation_id_path="requestContext.requestId", emits_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
