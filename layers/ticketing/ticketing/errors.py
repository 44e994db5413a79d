"""One exception hierarchy for the whole domain; handlers map it to HTTP in one place."""

from __future__ import annotations

from typing import Any


class TicketEngineError(Exception):
    """Base of every error the domain raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequestError(TicketEngineError):
    status_code = 400
    code = "invalid_request"


class MalformedPayloadError(InvalidRequestError):
    code = "malformed_payload"


class PayloadTooLargeError(InvalidRequestError):
    status_code = 413
    code = "payload_too_large"


class UnknownAccountError(InvalidRequestError):
    code = "unknown_account"


class UnsupportedChannelError(TicketEngineError):
    status_code = 404
    code = "unsupported_channel"


class InvalidCursorError(InvalidRequestError):
    code = "invalid_cursor"


class UnauthorizedError(TicketEngineError):
    status_code = 401
    code = "unauthorized"


class InvalidSignatureError(UnauthorizedError):
    code = "invalid_signature"


class ForbiddenError(TicketEngineError):
    status_code = 403
    code = "forbidden"


class NotFoundError(TicketEngineError):
    status_code = 404
    code = "not_found"


class ConflictError(TicketEngineError):
    status_code = 409
    code = "conflict"


class UnprocessableError(TicketEngineError):
    """The request is well formed but its values break a domain rule (e.g. ticket field
    definitions): 422 like request validation, ``details.errors`` naming each field."""

    status_code = 422
    code = "validation_error"


class PreconditionFailedError(TicketEngineError):
    """The caller's If-Match names a version the record has moved past."""

    status_code = 412
    code = "version_mismatch"


class StorageUnavailableError(TicketEngineError):
    """DynamoDB failed or kept conflicting: answer 5xx so the caller (or channel) retries."""

    status_code = 503
    code = "storage_unavailable"


class ConfigurationError(TicketEngineError):
    status_code = 500
    code = "configuration_error"


# --- Channel API calls (issue #8 outbound delivery; also used by review polling) ----------------


class ChannelApiError(TicketEngineError):
    """A channel's HTTP API could not be reached or answered an error. ``maybe_delivered`` says
    whether the request may have reached the channel (a read timeout, a reset after sending): a
    non-idempotent send must then not be repeated blindly."""

    status_code = 502
    code = "channel_api_error"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(message, details=details)
        self.maybe_delivered = maybe_delivered


class ChannelApiTimeoutError(ChannelApiError):
    status_code = 504
    code = "channel_timeout"


class ChannelApiConnectionError(ChannelApiError):
    code = "channel_unreachable"


class ChannelApiRejectedError(ChannelApiError):
    """The channel answered with an error. ``reason`` is ours and stable (``token_expired``,
    ``outside_window``, ``rate_limited``, ``invalid_recipient``, ``invalid_request``,
    ``channel_error``); ``api_code`` is the channel's own code; ``retryable`` says whether the same
    call may succeed later (after ``retry_after`` seconds when the channel said so)."""

    code = "channel_rejected"

    def __init__(
        self,
        message: str,
        *,
        reason: str = "channel_error",
        http_status: int = 0,
        api_code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.reason = reason
        self.http_status = http_status
        self.api_code = api_code
        self.retryable = retryable
        self.retry_after = retry_after


# --- Comments (issue #5): the channel's private-reply rules --------------------------------------


class PrivateReplyNotAllowedError(ConflictError):
    """The channel does not allow this private reply; ``details.reason`` says why
    (``already_sent``, ``window_closed``, ``live_ended``, ``removed``, ``unsupported``)."""

    code = "private_reply_not_allowed"


class OutboundRuleError(UnprocessableError):
    """A reply breaks a channel rule (checked at the API and again by the sender); ``code`` names
    the rule."""

    code = "channel_rule"


class TextTooLongError(OutboundRuleError):
    code = "text_too_long"


class MessagingWindowClosedError(OutboundRuleError):
    code = "messaging_window_closed"
