"""The agent-facing REST resolvers' shared parts: error table, error shape, the caller.

Every API answers errors as ``{"error": {"code", "message", "details"}}`` with the status of the
domain error (errors.py); validation errors are 422 ``validation_error``; never a stack trace.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from ticketing.auth import Principal, principal_from_claims
from ticketing.errors import TicketEngineError
from ticketing.models.responses import ErrorResponse
from ticketing.observability import logger

ERRORS: dict[int, OpenAPIResponse] = {
    code: {"description": text, "content": {"application/json": {"model": ErrorResponse}}}
    for code, text in {
        400: "Bad request",
        401: "Missing or invalid credentials",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict with the current state",
        422: "Invalid request",
    }.items()
}


def responses(status: int = 200, description: str = "Success") -> dict[int, OpenAPIResponse]:
    """A route's OpenAPI responses: its success, whose schema Powertools takes from the return
    annotation (204: no body), then ERRORS. (Given ``responses`` without a 2xx, Powertools
    documents none.)"""
    success: OpenAPIResponse = {"description": description}
    if status == 204:
        success["content"] = {}
    return {status: success, **ERRORS}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response[str]:
    body = ErrorResponse.model_validate(
        {"error": {"code": code, "message": message, "details": details or {}}}
    )
    return Response(
        status_code=status, content_type="application/json", body=body.model_dump_json()
    )


def rest_resolver() -> APIGatewayRestResolver:
    """A validating REST resolver with the one error table of every agent-facing API."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(TicketEngineError)
    def domain_error(exc: TicketEngineError) -> Response[str]:
        if exc.status_code >= 500:
            logger.exception("request failed", extra={"code": exc.code})
        return error_response(exc.status_code, exc.code, exc.message, exc.details)

    # Bodies are UTF-8 JSON. Reading one, Powertools raises RequestUnsupportedContentType (no
    # RequestValidationError) for a Content-Type it cannot parse (text/plain ...), a bare
    # ValueError for multipart/form-data without a boundary and UnicodeDecodeError for bytes that
    # are not UTF-8: each would otherwise be a 500.
    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_media_type(exc: RequestUnsupportedContentType) -> Response[str]:
        return _unsupported_media_type()

    @app.exception_handler(ValueError)
    def unreadable_body(exc: ValueError) -> Response[str]:
        content_type = app.current_event.headers.get("content-type") or ""
        if content_type.strip().lower().startswith("multipart/"):
            return _unsupported_media_type()
        try:
            app.current_event.decoded_body  # noqa: B018 - raises for a body that is not UTF-8
        except UnicodeDecodeError:
            return error_response(
                422,
                "validation_error",
                "the request is not valid",
                {"errors": [{"loc": "body", "msg": "the body is not UTF-8 text"}]},
            )
        return _internal_error()

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[str]:
        errors = [
            {"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        return error_response(
            422, "validation_error", "the request is not valid", {"errors": errors}
        )

    @app.not_found
    def route_not_found(exc: RouteNotFound) -> Response[str]:
        return error_response(404, "not_found", "no such route")

    @app.exception_handler(Exception)
    def unexpected_error(exc: Exception) -> Response[str]:
        return _internal_error()

    return app


def _unsupported_media_type() -> Response[str]:
    return error_response(
        415, "unsupported_media_type", "the request body must be application/json"
    )


def _internal_error() -> Response[str]:
    logger.exception("request failed")  # called while handling the exception: logs its trace
    return error_response(500, "internal_error", "internal error")


def caller(app: APIGatewayRestResolver) -> Principal:
    """The agent and workspace, from API Gateway's Cognito authorizer context only."""
    return principal_from_claims(app.current_event.request_context.authorizer.claims)
