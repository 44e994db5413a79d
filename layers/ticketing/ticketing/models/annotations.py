"""What agents attach to a ticket besides messages: internal notes, labels and ticket fields.

Stored records (``Note``, ``TicketFieldDefinition``), the API's commands and responses, and the
label rule (``normalise_label``), shared by the request model and the DELETE route's path.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ticketing.models.records import Channel

MAX_NOTE_CHARS = 10_000
MAX_LABELS_PER_TICKET = 20
MAX_LABEL_CHARS = 50
MAX_FIELD_VALUES_PER_REQUEST = 100
MAX_FIELD_OPTIONS = 200
MAX_TEXT_FIELD_CHARS = 10_000
# numbers are stored as DynamoDB numbers and read by JavaScript clients: keep them exact in both
MAX_NUMBER_FIELD_ABS = 1e15

_LABEL = re.compile(r"[a-z0-9 _-]+")
FIELD_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"


def normalise_label(raw: str) -> str:
    """Trimmed, lowercase, 1..50 characters of ``[a-z0-9 _-]``; ValueError otherwise."""
    label = raw.strip().lower()
    if not 1 <= len(label) <= MAX_LABEL_CHARS:
        raise ValueError(f"a label has 1 to {MAX_LABEL_CHARS} characters")
    if not _LABEL.fullmatch(label):
        raise ValueError("a label may contain only letters, digits, spaces, '_' and '-'")
    return label


Label = Annotated[str, Field(max_length=200), AfterValidator(normalise_label)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- notes
class Note(_Record):
    """An internal note on a ticket: for agents only, never sent to the customer."""

    workspace_id: str
    ticket_id: str
    note_id: str
    author: str = Field(description="The agent id of the author.")
    text: str
    created_at: datetime


class AddNoteCommand(_Command):
    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class NoteResponse(BaseModel):
    note_id: str
    ticket_id: str
    author: str = Field(description="The agent id of the author.")
    text: str
    created_at: datetime

    @classmethod
    def of(cls, note: Note) -> NoteResponse:
        return cls(
            note_id=note.note_id,
            ticket_id=note.ticket_id,
            author=note.author,
            text=note.text,
            created_at=note.created_at,
        )


class NoteListResponse(BaseModel):
    items: list[NoteResponse] = Field(description="Oldest first.")
    next_cursor: str | None = Field(default=None, description="Opaque; pass as ?cursor=.")


# ---------------------------------------------------------------------------- labels
class AddLabelsCommand(_Command):
    labels: list[Label] = Field(
        min_length=1,
        max_length=MAX_LABELS_PER_TICKET,
        description="Trimmed and lowercased; 1-50 characters of letters, digits, space, _ and -.",
    )


# ---------------------------------------------------------------------------- ticket fields
class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    SINGLE_SELECT = "single_select"
    MULTI_SELECT = "multi_select"


SELECT_TYPES = frozenset({FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT})

FieldKey = Annotated[str, Field(pattern=FIELD_KEY_PATTERN)]
OptionValue = Annotated[str, Field(min_length=1, max_length=100)]


class _FieldShape(BaseModel):
    label: str = Field(min_length=1, max_length=100)
    type: FieldType
    required: bool = False
    options: list[OptionValue] = Field(
        default_factory=list,
        max_length=MAX_FIELD_OPTIONS,
        description="The allowed values of a single_select or multi_select field.",
    )
    channels: list[Channel] = Field(
        default_factory=list,
        description="Only tickets of these channels may have the field; empty = every channel.",
    )

    @model_validator(mode="after")
    def _options_fit_the_type(self) -> Any:
        if self.type in SELECT_TYPES:
            if not self.options:
                raise ValueError(f"a {self.type.value} field needs options")
            if len(set(self.options)) != len(self.options):
                raise ValueError("options must be unique")
        elif self.options:
            raise ValueError(f"a {self.type.value} field has no options")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels must be unique")
        return self


class PutTicketFieldCommand(_FieldShape):
    """Create or replace a workspace's ticket field definition."""

    model_config = ConfigDict(extra="forbid")


class TicketFieldDefinition(_FieldShape):
    model_config = ConfigDict(extra="ignore")

    workspace_id: str
    key: FieldKey
    updated_at: datetime
    updated_by: str


class TicketFieldResponse(_FieldShape):
    key: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, definition: TicketFieldDefinition) -> TicketFieldResponse:
        return cls.model_validate(definition.model_dump(exclude={"workspace_id"}))


class TicketFieldListResponse(BaseModel):
    items: list[TicketFieldResponse] = Field(description="Every definition, by key.")


class SetTicketFieldsCommand(_Command):
    values: dict[str, Any] = Field(
        min_length=1,
        max_length=MAX_FIELD_VALUES_PER_REQUEST,
        description="Field key → value (its type per the definition), or null to clear it.",
    )
