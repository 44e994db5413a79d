"""Channel rules for outbound messages (pure): checked when an agent replies (the API answers 422
with the rule's code) and again by the sender just before it calls the channel.

- Text limits: Messenger 2,000 and Instagram 1,000 characters; WhatsApp 4,096; LINE 5,000.
- Meta messaging window (Messenger, Instagram): a standard message within 24 h of the customer's
  last message; past that, within 7 days, only with the ``HUMAN_AGENT`` tag; later, nothing.
- WhatsApp customer-service window: free-form text within 24 h of the customer's last message
  (later only templates, which the inbox does not send).
- LINE: the reply API while the last message's reply token is fresh, else push.
- Private replies to comments (``comment_id``) are not bound by the messaging window (Meta allows
  one per comment within 7 days of it: the comments module guards "one").

Unknown last-message time (records stored before it was kept): no window check; the channel's own
answer (outside the window) then fails the send with the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketing.errors import MessagingWindowClosedError, TextTooLongError
from ticketing.models.records import Channel

TEXT_LIMITS: dict[Channel, int] = {
    Channel.MESSENGER: 2000,
    Channel.INSTAGRAM: 1000,
    Channel.WHATSAPP: 4096,
    Channel.LINE: 5000,
}
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
WHATSAPP_WINDOW = timedelta(hours=24)
# LINE documents reply tokens as short-lived: use one only within this margin of the message.
LINE_REPLY_TOKEN_TTL = timedelta(seconds=50)
META_CHANNELS = frozenset({Channel.MESSENGER, Channel.INSTAGRAM})


@dataclass(frozen=True)
class SendPlan:
    use_human_agent_tag: bool = False
    use_reply_token: bool = False


def text_length(text: str) -> int:
    """Characters as the channels count them (code points)."""
    return len(text)


def plan_send(
    channel: Channel,
    text: str,
    *,
    now: datetime,
    last_inbound_at: datetime | None,
    comment_id: str | None = None,
    reply_token: str | None = None,
) -> SendPlan:
    """How to send ``text`` now, or raise the rule it breaks."""
    limit = TEXT_LIMITS.get(channel)
    if limit is not None and text_length(text) > limit:
        raise TextTooLongError(
            f"{channel.value} accepts at most {limit} characters",
            details={"channel": channel.value, "limit": limit, "length": text_length(text)},
        )
    if comment_id:
        return SendPlan()
    age = now - last_inbound_at if last_inbound_at is not None else None
    if channel in META_CHANNELS and age is not None and age > STANDARD_WINDOW:
        if age > HUMAN_AGENT_WINDOW:
            raise _closed(channel, "7 days", last_inbound_at)
        return SendPlan(use_human_agent_tag=True)
    if channel is Channel.WHATSAPP and age is not None and age > WHATSAPP_WINDOW:
        raise _closed(channel, "24 hours", last_inbound_at)
    if channel is Channel.LINE:
        fresh = bool(reply_token) and age is not None and age <= LINE_REPLY_TOKEN_TTL
        return SendPlan(use_reply_token=fresh)
    return SendPlan()


def _closed(channel: Channel, window: str, last: datetime | None) -> MessagingWindowClosedError:
    return MessagingWindowClosedError(
        f"{channel.value}: the customer's last message is older than {window}",
        details={
            "channel": channel.value,
            "window": window,
            "last_inbound_at": last.isoformat() if last else None,
        },
    )
