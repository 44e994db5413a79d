"""Messenger Send API (``POST /{page-id}/messages``; Page access token as a Bearer header).

- A standard message is ``messaging_type: RESPONSE``; past 24 h (within 7 days) it is
  ``MESSAGE_TAG`` with ``tag: HUMAN_AGENT`` (the rules decide: ``SendRequest.use_human_agent_tag``).
- A private reply to a comment uses ``recipient: {"comment_id": ...}``; the answer's
  ``recipient_id`` is then the commenter's PSID.
- ``message.metadata`` carries ``te:<message_id>``: the echo of our own send brings it back, so
  the echo is matched to the stored message (services/delivery.py) instead of stored twice.
- Not idempotent: a timeout is never repeated blindly.

Errors (Graph ``{"error": {"code", "error_subcode", "message", "fbtrace_id"}}``): 190 expired or
invalid token; 10 / 2018278 (and 2018065) outside the allowed window; 4, 17, 32, 613 and HTTP
429 rate limits; 551 / 1545041 person unavailable; 1, 2 and 5xx transient.

Credentials: ``page_access_token`` (or ``access_token``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ticketing.channels.api_client import ApiResponse
from ticketing.channels.send_base import (
    ChannelSender,
    SendRequest,
    SendResult,
    first,
    rejected,
)
from ticketing.errors import ChannelApiRejectedError
from ticketing.models.records import Channel

ECHO_METADATA_PREFIX = "te:"
_AUTH_CODES = frozenset({190, 102, 463, 467})
_WINDOW_CODES = frozenset({2018278, 2018065, 2018108, 2534022})
_RATE_CODES = frozenset({4, 17, 32, 613, 80006, 130429, 131056, 80007})
_RECIPIENT_CODES = frozenset({551, 1545041, 2018001, 131026, 131030})
_TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})
# WhatsApp: 131047 = re-engagement (the 24 h customer-service window has closed)
_WHATSAPP_WINDOW_CODES = frozenset({131047})


def echo_metadata(message_id: str) -> str:
    return ECHO_METADATA_PREFIX + message_id


def message_id_from_metadata(metadata: str | None) -> str | None:
    if metadata and metadata.startswith(ECHO_METADATA_PREFIX):
        return metadata.removeprefix(ECHO_METADATA_PREFIX) or None
    return None


def meta_error(channel: str, answer: ApiResponse) -> ChannelApiRejectedError:
    """A Graph API error answer as our stable reason."""
    error = answer.json_body.get("error")
    error = error if isinstance(error, dict) else {}
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    message = str(error.get("message") or f"HTTP {answer.status}")
    codes = {c for c in (code, subcode) if c is not None}
    api_code = ".".join(str(c) for c in (code, subcode) if c is not None) or None
    if codes & _WINDOW_CODES or codes & _WHATSAPP_WINDOW_CODES or (code == 10 and subcode):
        reason, retryable = "outside_window", False
    elif codes & _AUTH_CODES or answer.status == 401:
        reason, retryable = "token_expired", False
    elif answer.status == 429 or codes & _RATE_CODES:
        reason, retryable = "rate_limited", True
    elif codes & _RECIPIENT_CODES:
        reason, retryable = "invalid_recipient", False
    elif answer.status >= 500 or codes & _TRANSIENT_CODES or error.get("is_transient"):
        reason, retryable = "channel_error", True
    else:
        reason, retryable = "invalid_request", False
    return rejected(
        channel, answer, reason=reason, api_code=api_code, message=message, retryable=retryable
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class MessengerSender(ChannelSender):
    channel: ClassVar[Channel] = Channel.MESSENGER
    credential_keys: ClassVar[tuple[str, ...]] = ("page_access_token|access_token",)
    supports_metadata: ClassVar[bool] = True

    def body(self, request: SendRequest) -> dict[str, Any]:
        message: dict[str, Any] = {"text": request.text}
        if self.supports_metadata:
            message["metadata"] = echo_metadata(request.message_id)
        body: dict[str, Any] = {"message": message}
        if request.comment_id:
            body["recipient"] = {"comment_id": request.comment_id}
        else:
            body["recipient"] = {"id": request.customer_id}
            if request.use_human_agent_tag:
                body["messaging_type"] = "MESSAGE_TAG"
                body["tag"] = "HUMAN_AGENT"
            else:
                body["messaging_type"] = "RESPONSE"
        return body

    def send(self, request: SendRequest) -> SendResult:
        token = first(self.credentials, "page_access_token|access_token")
        answer = self.client.request(
            "POST",
            f"/{request.account_id}/messages",
            json=self.body(request),
            headers={"Authorization": f"Bearer {token}"},
        )
        if not answer.ok:
            raise meta_error(self.channel.value, answer)
        body = answer.json_body
        message_id = body.get("message_id")
        if not message_id:
            raise rejected(
                self.channel.value,
                answer,
                reason="channel_error",
                api_code=None,
                message="the answer names no message_id",
            )
        recipient = body.get("recipient_id")
        return SendResult(
            channel_message_id=str(message_id),
            recipient_id=str(recipient) if recipient else None,
            raw=body,
        )
