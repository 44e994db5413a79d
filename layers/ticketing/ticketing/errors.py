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
