"""A small JSON HTTP client for the channels' own APIs (send APIs, review polling).

Built on urllib3, which the Lambda runtime already ships with botocore: no new runtime dependency.
Every call has explicit connect/read timeouts. Retries are deliberately split by what is safe:

- a **connection failure** (nothing was sent) is retried for every method;
- a **read timeout / reset after sending** and **5xx / 429 answers** are retried only for
  idempotent calls (GET, HEAD, PUT, DELETE, OPTIONS, or ``idempotent=True``): a POST that timed out
  may have reached the channel, so it is surfaced as an error with ``maybe_delivered=True`` for the
  caller to decide (the outbox sender never re-sends it blindly);
- ``Retry-After`` is honoured, up to ``max_retry_after`` seconds; a longer wait is not slept
  inside a Lambda: the response is returned and the caller reports it (e.g. SQS retries later).

The client never logs query strings, headers or bodies: they carry access tokens and signatures.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from ticketing.errors import ChannelApiConnectionError, ChannelApiTimeoutError

__all__ = ["ApiClient", "ApiResponse", "parse_retry_after"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "ticket-engine/1"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class ApiResponse:
    """A channel's answer. ``body`` is the decoded JSON (or the text when it is not JSON);
    ``headers`` have lowercased names."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def json_body(self) -> dict[str, Any]:
        """The body when it is a JSON object, else an empty dict (error pages, empty bodies)."""
        return self.body if isinstance(self.body, dict) else {}

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


class _CappedRetry(Retry):
    """urllib3's Retry, but a ``Retry-After`` longer than ``max_retry_after`` is not slept: the
    response is returned to the caller instead."""

    max_retry_after: float = 5.0

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.max_retry_after = self.max_retry_after
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: urllib3.BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is not None:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > self.max_retry_after:
                # not worth sleeping inside the invocation: hand the answer back
                raise _GiveBackError(response)
        return super().increment(method, url, response, error, _pool, _stacktrace)


class _GiveBackError(Exception):
    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__("retry-after too long")
        self.response = response


class ApiClient:
    """``ApiClient(base_url).request("POST", "/v21.0/me/messages", json={...})``.

    ``timeout`` is the read timeout in seconds (connect: ``connect_timeout``); ``retries`` the
    number of retries of each safe kind (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        retries: int = 2,
        backoff_factor: float = 0.2,
        max_retry_after: float = 5.0,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        if not urlsplit(base_url).scheme:
            raise ValueError("base_url needs a scheme (https://…)")
        self.base_url = base_url.rstrip("/")
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=timeout)
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.max_retry_after = max_retry_after
        self._pool = pool or urllib3.PoolManager(num_pools=4, maxsize=4)

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        url = path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"
        if params:
            query = urlencode([(k, _param(v)) for k, v in params.items() if v is not None])
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        return url

    def _retry(self, idempotent: bool) -> Retry:
        retry = _CappedRetry(
            total=self.retries,
            connect=self.retries,
            read=self.retries if idempotent else 0,
            status=self.retries if idempotent else 0,
            other=0,
            redirect=0,
            allowed_methods=None,  # which methods may retry is decided by ``idempotent`` here
            status_forcelist=RETRY_STATUSES if idempotent else frozenset(),
            backoff_factor=self.backoff_factor,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        retry.max_retry_after = self.max_retry_after
        return retry

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        form: Mapping[str, Any] | None = None,
    ) -> ApiResponse:
        """One call. ``json`` (or ``form``, url-encoded) is the body; ``idempotent`` overrides
        the method's default for what may be retried (see the module docstring)."""
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        send_headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
            send_headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode([(k, _param(v)) for k, v in form.items() if v is not None]).encode()
            send_headers["Content-Type"] = "application/x-www-form-urlencoded;charset=utf-8"
        send_headers.update(headers or {})
        url = self.url(path, params)
        target = {"method": method, "host": urlsplit(url).netloc, "path": urlsplit(url).path}
        try:
            raw = self._pool.request(
                method,
                url,
                body=body,
                headers=send_headers,
                timeout=self.timeout,
                retries=self._retry(safe),
                redirect=False,
            )
        except _GiveBackError as give_back:
            raw = give_back.response
        except MaxRetryError as exc:
            raise _translate(exc.reason, target) from exc
        except (ReadTimeoutError, ConnectTimeoutError, NewConnectionError, ProtocolError) as exc:
            raise _translate(exc, target) from exc
        return _response(raw)


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return jsonlib.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _response(raw: urllib3.BaseHTTPResponse) -> ApiResponse:
    data = raw.data or b""
    headers = {k.lower(): v for k, v in raw.headers.items()}
    body: Any
    try:
        body = jsonlib.loads(data) if data else None
    except ValueError:
        body = data.decode("utf-8", "replace")
    return ApiResponse(status=raw.status, body=body, headers=headers)


def _translate(
    reason: BaseException | None, target: dict[str, str]
) -> ChannelApiTimeoutError | ChannelApiConnectionError:
    # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: test it first
    if isinstance(reason, NewConnectionError):
        return ChannelApiConnectionError(
            "channel API unreachable", details=target, maybe_delivered=False
        )
    if isinstance(reason, ConnectTimeoutError):
        return ChannelApiTimeoutError(
            "channel API connection timed out", details=target, maybe_delivered=False
        )
    if isinstance(reason, ReadTimeoutError):
        return ChannelApiTimeoutError(
            "channel API did not answer in time", details=target, maybe_delivered=True
        )
    # a reset/protocol error after the request went out: the outcome is unknown
    return ChannelApiConnectionError(
        "channel API connection broke", details=target, maybe_delivered=True
    )
