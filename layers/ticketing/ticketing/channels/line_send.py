"""LINE Messaging API: reply (``POST /v2/bot/message/reply``) while the last message's reply token
is fresh, else push (``POST /v2/bot/message/push``). Channel access token as a Bearer header.

Push is idempotent by ``X-Line-Retry-Key`` (a UUID derived from our message id): a repeat within
24 h is refused with 409 and not delivered twice, so a send whose outcome is unknown may be retried
(the 409 is read as success). A reply token is single-use: an invalid or expired one
(400 "Invalid reply token") falls back to push in the same call.

Errors (``{"message": ..., "details": [...]}``): 401 invalid/expired token; 429 rate limit; 400
invalid request; 5xx transient. Credentials: ``channel_access_token`` (or ``access_token``).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from ticketing.channels.api_client import ApiResponse
from ticketing.channels.send_base import ChannelSender, SendRequest, SendResult, first, rejected
from ticketing.errors import ChannelApiRejectedError
from ticketing.models.records import Channel

REPLY_PATH = "/v2/bot/message/reply"
PUSH_PATH = "/v2/bot/message/push"
_RETRY_KEY_NAMESPACE = uuid.UUID("6f1d8b1e-3c2a-4e0b-9d53-6b1f0c2e8a47")


def retry_key(message_id: str) -> str:
    """The same message always gets the same X-Line-Retry-Key (a UUID, as LINE requires)."""
    return str(uuid.uuid5(_RETRY_KEY_NAMESPACE, message_id))


def line_error(answer: ApiResponse) -> ChannelApiRejectedError:
    message = str(answer.json_body.get("message") or f"HTTP {answer.status}")
    if answer.status == 401:
        reason, retryable = "token_expired", False
    elif answer.status == 429:
        reason, retryable = "rate_limited", True
    elif answer.status >= 500:
        reason, retryable = "channel_error", True
    elif answer.status == 400 and "reply token" in message.lower():
        reason, retryable = "invalid_reply_token", False
    else:
        reason, retryable = "invalid_request", False
    return rejected(
        "line",
        answer,
        reason=reason,
        api_code=str(answer.status),
        message=message,
        retryable=retryable,
    )


def _sent_id(body: dict[str, Any]) -> str | None:
    sent = body.get("sentMessages")
    if isinstance(sent, list) and sent and isinstance(sent[0], dict) and sent[0].get("id"):
        return str(sent[0]["id"])
    return None


class LineSender(ChannelSender):
    channel: ClassVar[Channel] = Channel.LINE
    idempotent: ClassVar[bool] = True  # push carries X-Line-Retry-Key
    credential_keys: ClassVar[tuple[str, ...]] = ("channel_access_token|access_token",)

    def _headers(self) -> dict[str, str]:
        token = first(self.credentials, "channel_access_token|access_token")
        return {"Authorization": f"Bearer {token}"}

    def send(self, request: SendRequest) -> SendResult:
        messages = [{"type": "text", "text": request.text}]
        if request.reply_token:
            answer = self.client.request(
                "POST",
                REPLY_PATH,
                json={"replyToken": request.reply_token, "messages": messages},
                headers=self._headers(),
            )
            if answer.ok:
                return self._result(answer, request)
            error = line_error(answer)
            if error.reason != "invalid_reply_token":
                raise error
            # the token was used or has expired: push instead (nothing was delivered)
        key = retry_key(request.message_id)
        answer = self.client.request(
            "POST",
            PUSH_PATH,
            json={"to": request.customer_id, "messages": messages},
            headers={**self._headers(), "X-Line-Retry-Key": key},
            idempotent=True,  # the retry key makes a repeat harmless: retry reads and 5xx too
        )
        if answer.status == 409 and answer.headers.get("x-line-accepted-request-id"):
            # an earlier attempt with this retry key was accepted: it is delivered
            return self._result(answer, request, fallback=f"line-push:{key}")
        if not answer.ok:
            raise line_error(answer)
        return self._result(answer, request, fallback=f"line-push:{key}")

    def _result(
        self, answer: ApiResponse, request: SendRequest, fallback: str | None = None
    ) -> SendResult:
        channel_id = _sent_id(answer.json_body) or fallback or f"line-reply:{request.message_id}"
        return SendResult(channel_message_id=channel_id, raw=answer.json_body)
