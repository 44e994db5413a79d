"""API response and error bodies: models, so the OpenAPI document describes every answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ticketing.models.records import HistoryEvent, Message, Ticket


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable error code.")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    error: ErrorDetail


class OpenTicketCommand(BaseModel):
    """Open a ticket by hand on one of a contact's conversations."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str = Field(min_length=1, max_length=64)


class TicketListResponse(BaseModel):
    items: list[Ticket]
    next_cursor: str | None = Field(default=None, description="Opaque; pass as ?cursor=.")


class TicketDetailResponse(BaseModel):
    ticket: Ticket
    messages: list[Message]
    next_messages_cursor: str | None = None
    history: list[HistoryEvent]
