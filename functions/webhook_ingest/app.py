"""POST /webhooks/{channel}: verify, parse, store. GET /webhooks/{channel}: Meta's handshake.

Thin: builds the raw body and lowercased headers, hands them to ``services.webhooks`` and maps
the result (or the domain error) to HTTP. 200 only once every event is stored.

Cold start (goal: import time at most 1.5 times ``import boto3``): the module loads boto3, the
logger and the routing only. Settings, secrets, the repository, the webhook service, the pydantic
models and the channel adapters are imported by the first request that needs them (bench/README.md,
section 4).
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3  # noqa: F401 - loaded at init (Lambda's init phase), used by the first request
from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound

from ticketing.clock import utc_now
from ticketing.errors import TicketEngineError
from ticketing.observability import MetricUnit, instrument, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from ticketing.repository.dynamodb import DynamoTicketRepository
    from ticketing.services.webhooks import ConnectionDirectory

app = APIGatewayRestResolver()


def get_repository() -> DynamoTicketRepository:
    from ticketing.repository.dynamodb import get_repository as repository

    return repository()


@lru_cache(maxsize=1)
def connections() -> ConnectionDirectory:
    from ticketing.config import get_settings
    from ticketing.services.webhooks import ConnectionDirectory

    return ConnectionDirectory(get_repository(), get_settings().connection_cache_seconds)


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


@app.get("/webhooks/<channel>")
def verify_webhook(channel: str) -> Response[str]:
    from ticketing.config import get_settings
    from ticketing.secrets import resolve_secret
    from ticketing.services import webhooks

    settings = get_settings()
    token = (
        resolve_secret(settings.meta_verify_token_ref) if settings.meta_verify_token_ref else None
    )
    query = app.current_event.query_string_parameters or {}
    challenge = webhooks.handshake(channel, query, token)
    metrics.add_dimension(name="channel", value=channel)
    metrics.add_metric(
        name="HandshakeAccepted" if challenge is not None else "HandshakeRefused",
        unit=MetricUnit.Count,
        value=1,
    )
    if challenge is None:
        return _json(
            403, {"error": {"code": "forbidden", "message": "verification failed", "details": {}}}
        )
    return Response(status_code=200, content_type="text/plain", body=challenge)


@app.post("/webhooks/<channel>")
def receive_webhook(channel: str) -> Response[str]:
    from ticketing.config import get_settings
    from ticketing.secrets import resolve_secret
    from ticketing.services import webhooks

    event = app.current_event
    body = event.body or ""
    raw = base64.b64decode(body) if event.is_base64_encoded else body.encode()
    settings = get_settings()
    report = webhooks.receive_webhook(
        repo=get_repository(),
        connections=connections(),
        resolve_secret=resolve_secret,
        channel=channel,
        headers=webhooks.lower_headers(event.headers),
        raw=raw,
        now=utc_now(),
        max_body_bytes=settings.max_webhook_body_bytes,
        own_app_id=settings.meta_app_id,
    )
    metrics.add_dimension(name="channel", value=channel)
    metrics.add_metric(name="WebhookEvents", unit=MetricUnit.Count, value=report.events)
    for outcome, count in report.outcomes.items():
        metrics.add_metric(name=f"Events_{outcome}", unit=MetricUnit.Count, value=count)
    if report.unknown_accounts:
        metrics.add_metric(
            name="UnknownAccountEvents", unit=MetricUnit.Count, value=len(report.unknown_accounts)
        )
    return Response(
        status_code=200,
        content_type="application/json",
        body=webhooks.acknowledgement(channel, report),
    )


@app.exception_handler(TicketEngineError)
def domain_error(exc: TicketEngineError) -> Response[str]:
    log = logger.exception if exc.status_code >= 500 else logger.warning
    log("webhook rejected", extra={"code": exc.code, "status": exc.status_code})
    metrics.add_metric(name="WebhookRejected", unit=MetricUnit.Count, value=1)
    return _json(exc.status_code, exc.to_body())


@app.not_found
def route_not_found(exc: RouteNotFound) -> Response[str]:
    return _json(404, {"error": {"code": "not_found", "message": "no such route", "details": {}}})


@app.exception_handler(Exception)
def unexpected_error(exc: Exception) -> Response[str]:
    logger.exception("webhook failed")
    body = {"error": {"code": "internal_error", "message": "internal error", "details": {}}}
    return _json(500, body)


@instrument(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
