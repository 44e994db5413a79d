"""Outbound delivery (issue 8): one ``OutboundMessageRequested`` → one call of the channel's send
API, its outcome recorded on the stored message.

Exactly once from the customer's point of view, as far as each channel allows:

- The message is **claimed** before the call (repository/delivery.py). A redelivered event that
  finds an unfinished claim older than ``ATTEMPT_LEASE`` knows a previous attempt may have reached
  the channel. Where a repeat cannot deliver twice (LINE push with ``X-Line-Retry-Key``) it takes
  the claim over and sends again; elsewhere it never repeats the send: the message is ``failed``
  with ``unknown_outcome`` (an echo of that send, if the channel sends one, still marks it sent).
  A younger claim is another attempt in flight: retry later.
- A call that timed out after the request went out is treated the same way (``unknown_outcome``),
  except on idempotent channels, where it is retried.
- A call refused by the channel with a permanent reason (expired token, outside the window,
  invalid recipient or request) is ``failed`` with that reason at once. A retryable refusal (rate
  limit, 5xx) or a connection that never opened releases the claim and asks SQS for another
  delivery (after ``retry_after`` when the channel said); on the last allowed receive
  (``max_receives`` = the queue's maxReceiveCount) the message is ``failed`` with the reason and
  the event goes on to the dead-letter queue.
- Channel rules (outbound_rules) are checked again just before the call (time has passed since the
  reply was accepted); a broken rule fails the message with the rule's code.
- ``sent`` re-keys the message under the channel's id, so receipts and echoes find it.

Echoes: ``confirm_echo`` matches an echo of our own send (Messenger ``metadata = te:<message_id>``)
to the stored message and records it ``sent`` under the echo's id: never a second message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn, Protocol

from ticketing.channels.send_base import ChannelSender, SendRequest, SendResult
from ticketing.errors import (
    ChannelApiError,
    ChannelApiRejectedError,
    ConfigurationError,
    OutboundRuleError,
    TicketEngineError,
)
from ticketing.models.records import Channel, ChannelConnection, ConnectionStatus
from ticketing.models.replies import OutboundMessageRequested
from ticketing.observability import logger
from ticketing.outbound_rules import SendPlan, plan_send
from ticketing.repository.base import TicketRepository
from ticketing.repository.delivery import Claim

ATTEMPT_LEASE = timedelta(seconds=120)  # > the function's timeout (60 s); < the visibility (360 s)
UNKNOWN_OUTCOME = "unknown_outcome"
Outcome = Literal["sent", "failed", "duplicate", "skipped"]


class DeliveryStore(Protocol):
    def claim(
        self,
        *,
        workspace_id: str,
        channel: Channel,
        account_id: str,
        channel_message_id: str,
        attempt_id: str,
        now: datetime,
        previous_attempt_id: str | None = None,
    ) -> Claim: ...

    def release(
        self,
        *,
        workspace_id: str,
        channel: Channel,
        account_id: str,
        channel_message_id: str,
        attempt_id: str,
    ) -> bool: ...

    def record_failed(
        self,
        *,
        workspace_id: str,
        channel: Channel,
        account_id: str,
        channel_message_id: str,
        reason: str,
        now: datetime,
    ) -> bool: ...

    def record_sent(
        self, *, item: dict[str, Any], channel_message_id: str, now: datetime
    ) -> Literal["sent", "already"]: ...

    def get_message_item(
        self, *, workspace_id: str, channel: Channel, account_id: str, channel_message_id: str
    ) -> dict[str, Any] | None: ...


class RetryLaterError(TicketEngineError):
    """Nothing was delivered and the send may succeed later: SQS should deliver the event again
    (after ``retry_after`` seconds when known)."""

    status_code = 503
    code = "retry_later"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryAbandonedError(TicketEngineError):
    """The last allowed attempt failed for a retryable reason: the message is now ``failed`` with
    the reason, and the event should go on to the dead-letter queue (the handler reports it)."""

    status_code = 503
    code = "delivery_abandoned"


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    channel_message_id: str | None = None
    reason: str | None = None


SenderFactory = Callable[[ChannelConnection], ChannelSender]
SenderClass = Callable[[Channel], type[ChannelSender]]


def _default_sender(connection: ChannelConnection) -> ChannelSender:
    from ticketing.channels.senders import get_sender

    return get_sender(connection)


def _default_sender_class(channel: Channel) -> type[ChannelSender]:
    from ticketing.channels.senders import sender_class

    return sender_class(channel)


class _Delivery:
    def __init__(
        self,
        repo: TicketRepository,
        store: DeliveryStore,
        detail: OutboundMessageRequested,
        now: datetime,
    ) -> None:
        self.repo = repo
        self.store = store
        self.detail = detail
        self.now = now
        self.where: dict[str, Any] = {
            "workspace_id": detail.workspace_id,
            "channel": detail.channel,
            "account_id": detail.account_id,
            "channel_message_id": detail.channel_message_id,
        }

    def fail(self, reason: str) -> DeliveryResult:
        recorded = self.store.record_failed(**self.where, reason=reason, now=self.now)
        logger.info(
            "outbound message failed",
            extra={"reason": reason.split(":", 1)[0], "recorded": recorded},
        )
        return DeliveryResult("failed" if recorded else "duplicate", reason=reason)

    def release(self, attempt_id: str) -> None:
        self.store.release(**self.where, attempt_id=attempt_id)


def deliver(
    repo: TicketRepository,
    store: DeliveryStore,
    detail: OutboundMessageRequested,
    *,
    now: datetime,
    attempt_id: str,
    receive_count: int = 1,
    max_receives: int = 5,
    sender_factory: SenderFactory = _default_sender,
    sender_class: SenderClass = _default_sender_class,
) -> DeliveryResult:
    """Deliver one outbound message. Raises RetryLaterError when SQS should try again."""
    run = _Delivery(repo, store, detail, now)
    last_try = receive_count >= max_receives
    logger.append_keys(message_id=detail.message_id, channel=detail.channel.value)

    connection = repo.get_connection(detail.channel, detail.account_id)
    if (
        connection is None
        or connection.workspace_id != detail.workspace_id
        or connection.status is not ConnectionStatus.ACTIVE
    ):
        return run.fail("channel_disconnected: the channel account is not connected")

    try:
        plan = _plan(repo, detail, now)
    except OutboundRuleError as exc:
        return run.fail(f"{exc.code}: {exc.message}")

    idempotent = sender_class(detail.channel).idempotent
    claim = store.claim(**run.where, attempt_id=attempt_id, now=now)
    if claim.state == "missing":
        logger.warning("outbound message not found: nothing to send")
        return DeliveryResult("skipped", reason="message_not_found")
    if claim.state == "done":
        return DeliveryResult("duplicate")
    if claim.state == "in_flight":
        previous = (claim.item or {}).get("send_attempt_id")
        started = _parse_time(claim.attempt_at)
        if started is not None and now - started < ATTEMPT_LEASE:
            raise RetryLaterError("another attempt is sending this message")
        if not idempotent:
            # a previous attempt may have reached the channel: never send twice
            return run.fail(
                f"{UNKNOWN_OUTCOME}: an earlier attempt did not record its outcome;"
                " check the conversation before sending again"
            )
        claim = store.claim(
            **run.where, attempt_id=attempt_id, now=now, previous_attempt_id=str(previous)
        )
        if claim.state != "claimed":
            raise RetryLaterError("another attempt took this message over")
    assert claim.item is not None

    try:
        sender = sender_factory(connection)
        result = sender.send(_request(detail, plan, now))
    except ChannelApiRejectedError as exc:
        if not exc.retryable:
            return run.fail(f"{exc.reason}: {exc.message}")
        _retry_or_abandon(run, attempt_id, f"{exc.reason}: {exc.message}", last_try, exc)
    except ChannelApiError as exc:  # timeout / connection
        if exc.maybe_delivered and not idempotent:
            return run.fail(
                f"{UNKNOWN_OUTCOME}: {exc.message}; the channel may have delivered it,"
                " check the conversation before sending again"
            )
        _retry_or_abandon(run, attempt_id, f"{exc.code}: {exc.message}", last_try, exc)
    except ConfigurationError as exc:
        _retry_or_abandon(run, attempt_id, f"{exc.code}: {exc.message}", last_try, exc)

    return _record_sent(repo, store, detail, claim.item, result, now)


def _retry_or_abandon(
    run: _Delivery, attempt_id: str, reason: str, last_try: bool, exc: TicketEngineError
) -> NoReturn:
    """Nothing was delivered: give the message back for another SQS delivery or, on the last
    allowed one, fail it with the reason and let the event go to the dead-letter queue."""
    if last_try:
        run.fail(reason)
        raise DeliveryAbandonedError(reason) from exc
    run.release(attempt_id)
    retry_after = exc.retry_after if isinstance(exc, ChannelApiRejectedError) else None
    raise RetryLaterError(exc.message, retry_after=retry_after) from exc


def _record_sent(
    repo: TicketRepository,
    store: DeliveryStore,
    detail: OutboundMessageRequested,
    item: dict[str, Any],
    result: SendResult,
    now: datetime,
) -> DeliveryResult:
    recorded = store.record_sent(item=item, channel_message_id=result.channel_message_id, now=now)
    logger.info("outbound message sent", extra={"recorded": recorded})
    if detail.comment_id and result.recipient_id:
        _record_recipient(repo, detail, result.recipient_id, now)
    return DeliveryResult("sent", channel_message_id=result.channel_message_id)


def _record_recipient(
    repo: TicketRepository, detail: OutboundMessageRequested, recipient_id: str, now: datetime
) -> None:
    """Private replies: tell the comments module who the commenter is on Messenger (if present)."""
    try:
        from ticketing.services import comments
    except ImportError:  # pragma: no cover - the comments module is optional
        return
    record = getattr(comments, "record_private_reply_recipient", None)
    if record is not None:
        outcome = record(repo, detail, recipient_id, now)
        logger.info("private reply recipient recorded", extra={"outcome": outcome})


def _plan(repo: TicketRepository, detail: OutboundMessageRequested, now: datetime) -> SendPlan:
    try:
        return plan_send(
            detail.channel,
            detail.text,
            now=now,
            last_inbound_at=detail.last_inbound_at,
            comment_id=detail.comment_id,
            reply_token=detail.reply_token,
        )
    except OutboundRuleError:
        # the customer may have written since the reply was accepted: read the ticket's latest
        ticket = repo.get_ticket(detail.workspace_id, detail.ticket_id)
        fresher = getattr(ticket, "last_inbound_at", None) if ticket else None
        if fresher is None or (detail.last_inbound_at and fresher <= detail.last_inbound_at):
            raise
        return plan_send(
            detail.channel,
            detail.text,
            now=now,
            last_inbound_at=fresher,
            comment_id=detail.comment_id,
            reply_token=None,
        )


def _request(detail: OutboundMessageRequested, plan: SendPlan, now: datetime) -> SendRequest:
    return SendRequest(
        message_id=detail.message_id,
        channel=detail.channel,
        account_id=detail.account_id,
        customer_id=detail.customer_id,
        text=detail.text,
        now=now,
        last_inbound_at=detail.last_inbound_at,
        comment_id=detail.comment_id,
        reply_token=detail.reply_token if plan.use_reply_token else None,
        use_human_agent_tag=plan.use_human_agent_tag,
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# ---------------------------------------------------------------------------- echoes
def confirm_echo(
    store: DeliveryStore,
    *,
    workspace_id: str,
    channel: Channel,
    account_id: str,
    message_id: str,
    channel_message_id: str,
    now: datetime,
) -> bool:
    """An echo of our own send names our message (Messenger metadata): record the stored reply
    as sent under the echo's id. True when the echo is ours (matched now or already recorded):
    the caller then stores nothing. False: no such reply, the echo is handled as any other."""
    from ticketing.services.replies import OUTBOUND_PLACEHOLDER_PREFIX

    placeholder = OUTBOUND_PLACEHOLDER_PREFIX + message_id
    item = store.get_message_item(
        workspace_id=workspace_id,
        channel=channel,
        account_id=account_id,
        channel_message_id=placeholder,
    )
    if item is None:
        return False
    if item.get("moved_to"):
        return True  # the sender (or an earlier echo) recorded it
    outcome = store.record_sent(item=item, channel_message_id=channel_message_id, now=now)
    logger.info("echo matched to our outbound message", extra={"outcome": outcome})
    return True
