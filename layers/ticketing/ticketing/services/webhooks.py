"""Webhook intake: size check → parse → connection lookup → signature → one command at a time.

A request is answered 200 only when every event in it is stored (or deliberately ignored); any
storage failure raises, the handler answers 5xx, and the channel's redelivery stores only what is
missing (each message's put is its own dedupe).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ticketing.channels import get_adapter
from ticketing.errors import (
    ConfigurationError,
    InvalidSignatureError,
    MalformedPayloadError,
    PayloadTooLargeError,
    StorageUnavailableError,
    TicketEngineError,
)
from ticketing.models.commands import (
    MAX_KEY_PART_BYTES,
    ChannelCommand,
    CommentEvent,
    CustomerMessageReceived,
    DeliveryStatusReported,
    MessageDeleted,
    OutboundMessageSeen,
)
from ticketing.models.records import (
    Channel,
    ChannelConnection,
    ConnectionStatus,
    RejectedRequest,
)
from ticketing.observability import logger
from ticketing.repository.base import TicketRepository
from ticketing.services.ingest import (
    IngestResult,
    apply_delivery_status,
    ingest_customer_message,
    mark_message_deleted,
    record_outbound_message,
)

REJECTED_BODY_LIMIT = 256 * 1024
KEPT_HEADERS = {
    "content-type",
    "content-length",
    "user-agent",
    "x-hub-signature-256",
    "x-line-signature",
    "authorization",
}


class ConnectionDirectory:
    """Channel account → connection, cached for ``ttl`` seconds per warm Lambda container."""

    def __init__(
        self,
        repo: TicketRepository,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repo = repo
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[tuple[Channel, str], tuple[float, ChannelConnection]] = {}

    def get(self, channel: Channel, account_id: str) -> ChannelConnection | None:
        key = (channel, account_id)
        hit = self._cache.get(key)
        if hit is not None and self._clock() - hit[0] < self._ttl:
            return hit[1]
        connection = self._repo.get_connection(channel, account_id)
        if connection is not None:
            self._cache[key] = (self._clock(), connection)
        return connection


@dataclass
class WebhookReport:
    channel: str
    events: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    unknown_accounts: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def _event_time(command: ChannelCommand, default: datetime) -> datetime:
    if isinstance(command, (CustomerMessageReceived, OutboundMessageSeen)):
        return command.sent_at
    if isinstance(command, (DeliveryStatusReported, MessageDeleted)):
        return command.at
    if isinstance(command, CommentEvent):
        return command.at or default
    return default


def lower_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def acknowledgement(channel: str, report: WebhookReport) -> str:
    summary: dict[str, Any] = {"received": report.events, "outcomes": report.outcomes}
    if report.unknown_accounts:
        summary["unknown_accounts"] = len(report.unknown_accounts)
    return get_adapter(channel).acknowledgement(summary)


def handshake(channel: str, query: Mapping[str, str], verify_token: str | None) -> str | None:
    return get_adapter(channel).handshake(query, verify_token)


def receive_webhook(
    *,
    repo: TicketRepository,
    connections: ConnectionDirectory,
    resolve_secret: Callable[[str], str],
    channel: str,
    headers: Mapping[str, str],
    raw: bytes,
    now: datetime,
    max_body_bytes: int,
    own_app_id: str | None = None,
) -> WebhookReport:
    adapter = get_adapter(channel)

    def keep_refused(exc: TicketEngineError) -> None:
        """Keep what was refused (TTL'd) so nothing a channel sent is thrown away unseen."""
        repo.keep_rejected_request(
            RejectedRequest(
                channel=channel,
                reason=exc.code,
                message=exc.message,
                received_at=now,
                headers={k: v for k, v in headers.items() if k in KEPT_HEADERS},
                body_size=len(raw),
                body=raw[:REJECTED_BODY_LIMIT],
            )
        )

    try:
        if len(raw) > max_body_bytes:
            raise PayloadTooLargeError(
                "webhook body is too large", details={"limit_bytes": max_body_bytes}
            )
        payload = adapter.parse(raw)
        account_ids = adapter.account_ids(payload)
        too_long = [a for a in account_ids if len(a.encode()) > MAX_KEY_PART_BYTES]
        if too_long:
            # it cannot be looked up (nor connected): a malformed payload, not an unknown account
            raise MalformedPayloadError(
                f"{channel} payload names an account id over {MAX_KEY_PART_BYTES} bytes",
                details={"account_ids": sorted(a[:64] + "…" for a in too_long)},
            )
    except (PayloadTooLargeError, MalformedPayloadError) as exc:
        keep_refused(exc)
        raise
    report = WebhookReport(channel=channel)
    accounts: dict[str, ChannelConnection] = {}
    for account_id in sorted(account_ids):
        connection = connections.get(adapter.channel, account_id)
        if connection is None:
            # Decision (README "Webhooks"): 200 and nothing stored. A 4xx would only make the
            # channel retry for days (and Meta disables apps whose deliveries keep failing).
            logger.warning(
                "webhook for an unknown account ignored",
                extra={"channel": channel, "account_id": account_id},
            )
            report.unknown_accounts.append(account_id)
            continue
        accounts[account_id] = connection
    # every receiving account's own secret must verify the one signature of the request
    for connection in accounts.values():
        if connection.status is ConnectionStatus.DISCONNECTED:
            # nothing is stored for it, so its secret is not needed (and may be deleted by
            # now): the channel still gets its 200 and stops retrying
            continue
        try:
            secret = resolve_secret(connection.secret_ref)
        except TicketEngineError:
            raise
        except Exception as exc:  # the secret store failed: retryable, not the sender's fault
            raise ConfigurationError("signing secret unavailable") from exc
        if not adapter.verify(raw, headers, secret, connection):
            raise InvalidSignatureError("webhook signature does not match")

    try:
        commands = adapter.commands(payload, accounts)
    except ValidationError as exc:  # e.g. an id too long to be stored: never retry it
        refused = MalformedPayloadError(
            f"{channel} payload is not valid",
            details={
                "errors": [
                    {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
                    for e in exc.errors(include_url=False, include_input=False)[:10]
                ]
            },
        )
        keep_refused(refused)
        raise refused from exc
    # channel time, not arrival order: a batch is stored oldest first
    commands.sort(key=lambda c: _event_time(c, now))
    failures: list[StorageUnavailableError] = []
    for command in commands:
        report.events += 1
        connection = accounts.get(command.account_id)
        if connection is None:
            report.count("unknown_account")
            continue
        if connection.status is ConnectionStatus.DISCONNECTED:
            logger.warning(
                "event for a disconnected account ignored",
                extra={"channel": channel, "account_id": command.account_id},
            )
            report.count("disconnected")
            continue
        result: IngestResult
        try:
            if isinstance(command, CustomerMessageReceived):
                result = ingest_customer_message(repo, connection.workspace_id, command, now)
            elif isinstance(command, OutboundMessageSeen):
                result = record_outbound_message(
                    repo, connection.workspace_id, command, now, own_app_id=own_app_id
                )
            elif isinstance(command, DeliveryStatusReported):
                result = apply_delivery_status(repo, connection.workspace_id, command)
            elif isinstance(command, MessageDeleted):
                result = mark_message_deleted(repo, connection.workspace_id, command)
            elif isinstance(command, CommentEvent):  # public comments (issue 5): their own area
                # imported here: a chat message never builds the comments area (cold start)
                from ticketing.services.comments import ingest_comment

                comment = ingest_comment(repo, connection.workspace_id, command, now)
                report.count(comment.outcome)
                continue
            else:
                report.count("ignored")
                continue
        except StorageUnavailableError as exc:
            # keep going: every other event still gets stored; the redelivery fills the gap
            failures.append(exc)
            report.count("failed")
            continue
        report.count(result.outcome)
        logger.info(
            "webhook event stored",
            extra={
                "workspace_id": connection.workspace_id,
                "outcome": result.outcome,
                "ticket_id": result.ticket_id,
                "message_id": result.message_id,
            },
        )
    if failures:
        raise StorageUnavailableError(
            "some events were not stored; redeliver the request",
            details={"failed": len(failures), "events": report.events},
        ) from failures[0]
    return report
