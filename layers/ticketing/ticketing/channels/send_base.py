"""What every channel sender provides (one ``<channel>_send.py`` beside each webhook adapter).

A sender turns one outbound message into one call of the channel's own send API and answers a
:class:`SendResult` (the channel's message id), or raises ``ChannelApiRejectedError`` (the
channel said no: ``reason`` is ours and stable), ``ChannelApiTimeoutError`` /
``ChannelApiConnectionError`` (``maybe_delivered`` says whether the request may have gone out).

Credentials come from the connection's credentials secret (``options["credentials_ref"]``, else
its ``secret_ref``): a JSON object whose keys each sender names (``page_access_token``,
``access_token``, ``channel_access_token``, …). They are never logged.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from ticketing.channels.api_client import ApiClient, ApiResponse
from ticketing.errors import ChannelApiRejectedError, ConfigurationError
from ticketing.models.records import Channel, ChannelConnection

CREDENTIALS_OPTION = "credentials_ref"


@dataclass(frozen=True)
class SendRequest:
    """One outbound text, as the sender needs it (no read of the store)."""

    message_id: str
    channel: Channel
    account_id: str
    customer_id: str
    text: str
    now: datetime
    last_inbound_at: datetime | None = None
    comment_id: str | None = None
    reply_token: str | None = None
    use_human_agent_tag: bool = False  # Meta: past 24 h, within 7 days of the last message


@dataclass(frozen=True)
class SendResult:
    channel_message_id: str
    recipient_id: str | None = None  # private replies: the PSID/IGSID the channel answered
    raw: Mapping[str, Any] = field(default_factory=dict)


class ChannelSender(ABC):
    channel: ClassVar[Channel]
    # True when a repeated call cannot deliver twice (LINE push with X-Line-Retry-Key): a send
    # whose outcome is unknown may then be retried; otherwise it is never repeated blindly.
    idempotent: ClassVar[bool] = False
    credential_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, client: ApiClient, connection: ChannelConnection, secret: str) -> None:
        self.client = client
        self.connection = connection
        self.credentials = parse_credentials(secret, self.credential_keys, self.channel)

    @abstractmethod
    def send(self, request: SendRequest) -> SendResult:
        """Deliver one text through the channel's API."""


def parse_credentials(secret: str, required: tuple[str, ...], channel: Channel) -> dict[str, Any]:
    """The credentials secret: a JSON object holding at least one of each ``a|b`` alternative."""
    try:
        values = json.loads(secret)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise ConfigurationError(
            f"{channel.value} send credentials must be a JSON object",
            details={"channel": channel.value},
        )
    missing = [k for k in required if not any(values.get(alt) for alt in k.split("|"))]
    if missing:
        raise ConfigurationError(
            f"{channel.value} send credentials lack {', '.join(missing)}",
            details={"channel": channel.value, "missing": missing},
        )
    return values


def first(values: Mapping[str, Any], alternatives: str) -> str:
    for name in alternatives.split("|"):
        if values.get(name):
            return str(values[name])
    raise ConfigurationError(f"credential {alternatives} missing")


def credentials_ref(connection: ChannelConnection) -> str:
    return connection.options.get(CREDENTIALS_OPTION) or connection.secret_ref


def rejected(
    channel: str,
    answer: ApiResponse,
    *,
    reason: str,
    api_code: str | None,
    message: str,
    retryable: bool = False,
) -> ChannelApiRejectedError:
    return ChannelApiRejectedError(
        f"{channel}: {message}",
        reason=reason,
        http_status=answer.status,
        api_code=api_code,
        retryable=retryable,
        retry_after=answer.retry_after,
    )
