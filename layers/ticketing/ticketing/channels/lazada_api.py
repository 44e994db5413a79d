"""Signed calls to the Lazada Open Platform (``/rest`` gateway).

Every call carries the system parameters ``app_key``, ``timestamp`` (ms), ``sign_method=sha256``,
``access_token`` and ``sign``: the uppercase hex HMAC-SHA256, keyed with the ``app_secret``, over
the API path followed by every parameter (system and business, except ``sign``) sorted by name and
concatenated as ``name + value`` (as the official lazop SDKs do). System parameters go in the query
string; a POST's business parameters go in the form body, both signed. Answers are
``{"code": "0", "data": {...}, "request_id"}``; any other ``code`` is a failure (with HTTP 200).

Used by the outbox sender (``/im/message/send``) and by review polling (``call``). The query holds
the access token and the signature: never log a URL built here.
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

LAZADA_BASE_URL = "https://api.lazada.com/rest"  # regional gateways: api.lazada.co.th/rest, …
IM_SEND_PATH = "/im/message/send"
IM_TEXT_TEMPLATE = 1  # template 1 = plain text (``txt``)

_AUTH_ERRORS = frozenset(
    {"IllegalAccessToken", "InvalidAccessToken", "AccessTokenExpired", "MissingAccessToken"}
)
_RATE_ERRORS = frozenset({"ApiCallLimit", "AppCallLimit", "SellerCallLimit", "AccessDenied.Limit"})
_SERVER_ERRORS = frozenset({"ServiceTimeout", "ServiceUnavailable", "InternalError", "ISP"})


@dataclass(frozen=True)
class LazadaCredentials:
    app_key: str
    app_secret: str
    access_token: str

    def __repr__(self) -> str:  # never print the secret or the token
        return f"LazadaCredentials(app_key={self.app_key})"

    @classmethod
    def from_secret(
        cls, values: Mapping[str, Any], *, app_key: str | None = None
    ) -> LazadaCredentials:
        try:
            return cls(
                app_key=str(values.get("app_key") or app_key or values["app_key"]),
                app_secret=str(values["app_secret"]),
                access_token=str(values["access_token"]),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(
                "Lazada credentials need app_key, app_secret and access_token"
            ) from exc


def lazada_sign(app_secret: str, path: str, params: Mapping[str, Any]) -> str:
    signed = path + "".join(f"{k}{_text(params[k])}" for k in sorted(params) if k != "sign")
    return hmac.new(app_secret.encode(), signed.encode(), hashlib.sha256).hexdigest().upper()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class LazadaApi:
    def __init__(
        self,
        client: ApiClient,
        credentials: LazadaCredentials,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.credentials = credentials
        self._clock = clock

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """Call an API; returns the whole answer (``data`` and any paging fields). Raises
        ``ChannelApiRejectedError`` on an error ``code``, ``ChannelApiTimeoutError`` /
        ``ChannelApiConnectionError`` when the gateway could not be reached."""
        c = self.credentials
        business = {k: _text(v) for k, v in (params or {}).items() if v is not None}
        system: dict[str, Any] = {
            "app_key": c.app_key,
            "timestamp": str(int(self._clock() * 1000)),
            "sign_method": "sha256",
            "access_token": c.access_token,
        }
        system["sign"] = lazada_sign(c.app_secret, path, {**business, **system})
        method = method.upper()
        if method == "GET":
            answer = self.client.request(
                method, path, params={**business, **system}, idempotent=idempotent
            )
        else:
            answer = self.client.request(
                method, path, params=system, form=business, idempotent=idempotent
            )
        return lazada_result(answer)

    def send_text(self, *, session_id: str, text: str) -> dict[str, Any]:
        """``/im/message/send`` with the text template. The answer's ``data.message_id`` is the
        channel id. Not idempotent: a timeout raises with ``maybe_delivered=True``."""
        answer = self.call(
            "POST",
            IM_SEND_PATH,
            {"session_id": session_id, "template_id": IM_TEXT_TEMPLATE, "txt": text},
        )
        data = answer.get("data")
        return data if isinstance(data, dict) else {}


def lazada_result(answer: ApiResponse) -> dict[str, Any]:
    body = answer.json_body
    code = str(body.get("code", "")) if body else ""
    if answer.ok and code == "0":
        return body
    message = str(body.get("message") or code or f"HTTP {answer.status}")
    if answer.status == 429 or code in _RATE_ERRORS:
        reason, retryable = "rate_limited", True
    elif answer.status in (401, 403) or code in _AUTH_ERRORS:
        reason, retryable = "token_expired", False
    elif answer.status >= 500 or code in _SERVER_ERRORS or body.get("type") == "ISP":
        reason, retryable = "channel_error", True
    else:
        reason, retryable = "invalid_request", False
    raise ChannelApiRejectedError(
        f"Lazada: {message}",
        reason=reason,
        http_status=answer.status,
        api_code=code or None,
        retryable=retryable,
        retry_after=answer.retry_after,
        details={"request_id": body.get("request_id")},
    )
