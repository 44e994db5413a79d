"""Signed calls to the Shopee Open Platform v2 (shop-level APIs).

Every shop API call carries ``partner_id``, ``timestamp`` (s), ``access_token``, ``shop_id`` and
``sign`` in the query string, where ``sign`` is the lowercase hex HMAC-SHA256, keyed with the
``partner_key``, over ``partner_id + api_path + timestamp + access_token + shop_id``. Answers are
``{"request_id", "error", "message", "response": {...}}``; a non-empty ``error`` is a failure
(Shopee may answer it with HTTP 200 or 4xx/5xx alike).

Used by the outbox sender (``v2.sellerchat.send_message``) and by review polling (``call``).
The access token and the signature are query parameters: never log a URL built here.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ticketing.channels.api_client import ApiClient, ApiResponse
from ticketing.errors import ChannelApiRejectedError, ConfigurationError

SHOPEE_LIVE_BASE_URL = "https://partner.shopeemobile.com"
SHOPEE_TEST_BASE_URL = "https://partner.test-stable.shopeemobile.com"
SEND_MESSAGE_PATH = "/api/v2/sellerchat/send_message"

# Shopee's own error codes, by our stable reason (the platform spells one of them "acceess").
_AUTH_ERRORS = frozenset(
    {"error_auth", "invalid_access_token", "invalid_acceess_token", "error_token_expired"}
)
_RATE_ERRORS = frozenset({"error_too_many_request", "error_rate_limit", "error_frequency_limit"})
_SERVER_ERRORS = frozenset({"error_server", "error_inner", "error_busi_system", "error_network"})


@dataclass(frozen=True)
class ShopeeCredentials:
    """The shop's Open Platform credentials (from the connection's credentials secret)."""

    partner_id: int
    partner_key: str
    access_token: str
    shop_id: int

    def __repr__(self) -> str:  # never print the key or the token
        return f"ShopeeCredentials(partner_id={self.partner_id}, shop_id={self.shop_id})"

    @classmethod
    def from_secret(cls, values: Mapping[str, Any], *, shop_id: str) -> ShopeeCredentials:
        try:
            return cls(
                partner_id=int(values["partner_id"]),
                partner_key=str(values["partner_key"]),
                access_token=str(values["access_token"]),
                shop_id=int(values.get("shop_id", shop_id)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                "Shopee credentials need partner_id, partner_key and access_token"
            ) from exc


def shopee_sign(
    partner_key: str,
    *,
    partner_id: int,
    path: str,
    timestamp: int,
    access_token: str = "",
    shop_id: int | str = "",
) -> str:
    base = f"{partner_id}{path}{timestamp}{access_token}{shop_id}"
    return hmac.new(partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()


class ShopeeApi:
    def __init__(
        self,
        client: ApiClient,
        credentials: ShopeeCredentials,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.credentials = credentials
        self._clock = clock

    def signed_params(self, path: str) -> dict[str, Any]:
        c = self.credentials
        timestamp = int(self._clock())
        return {
            "partner_id": c.partner_id,
            "timestamp": timestamp,
            "access_token": c.access_token,
            "shop_id": c.shop_id,
            "sign": shopee_sign(
                c.partner_key,
                partner_id=c.partner_id,
                path=path,
                timestamp=timestamp,
                access_token=c.access_token,
                shop_id=c.shop_id,
            ),
        }

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """Call a shop-level API; returns its ``response`` object. Raises
        ``ChannelApiRejectedError`` on an error answer, ``ChannelApiTimeoutError`` /
        ``ChannelApiConnectionError`` when the API could not be reached."""
        query = {**(params or {}), **self.signed_params(path)}
        answer = self.client.request(method, path, params=query, json=body, idempotent=idempotent)
        return shopee_result(answer)

    def send_message(self, *, to_id: int | str, text: str) -> dict[str, Any]:
        """``v2.sellerchat.send_message`` (text). The answer's ``message_id`` is the channel id.
        Not idempotent: a timeout raises with ``maybe_delivered=True``."""
        return self.call(
            "POST",
            SEND_MESSAGE_PATH,
            body={"to_id": int(to_id), "message_type": "text", "content": {"text": text}},
        )


def shopee_result(answer: ApiResponse) -> dict[str, Any]:
    body = answer.json_body
    error = str(body.get("error") or "")
    if answer.ok and not error:
        response = body.get("response")
        return response if isinstance(response, dict) else {}
    message = str(body.get("message") or error or f"HTTP {answer.status}")
    if answer.status == 429 or error in _RATE_ERRORS:
        reason, retryable = "rate_limited", True
    elif answer.status in (401, 403) or error in _AUTH_ERRORS:
        reason, retryable = "token_expired", False
    elif answer.status >= 500 or error in _SERVER_ERRORS:
        reason, retryable = "channel_error", True
    else:
        reason, retryable = "invalid_request", False
    raise ChannelApiRejectedError(
        f"Shopee: {message}",
        reason=reason,
        http_status=answer.status,
        api_code=error or None,
        retryable=retryable,
        retry_after=answer.retry_after,
        details={"request_id": body.get("request_id")},
    )
