"""Agent annotations on a ticket: internal notes, labels and ticket field values.

Every change is one transaction with its history event (``repo.change_ticket``). Labels and field
values are read-modify-write of one attribute, so the write is always guarded by the version that
was read: a concurrent edit makes it decide again on the fresh ticket (never a lost update), unless
the agent sent ``If-Match``, which then answers 412 as soon as the ticket moved on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote

from ticketing import ids
from ticketing.auth import Principal, require_admin
from ticketing.errors import (
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    UnprocessableError,
)
from ticketing.models.annotations import (
    MAX_LABELS_PER_TICKET,
    MAX_NUMBER_FIELD_ABS,
    MAX_TEXT_FIELD_CHARS,
    FieldType,
    Note,
    PutTicketFieldCommand,
    TicketFieldDefinition,
    normalise_label,
)
from ticketing.models.records import Channel, HistoryEvent, Ticket
from ticketing.repository.base import (
    GuardFailedError,
    Page,
    TicketRepository,
    TicketStatusChangedError,
    WriteConflictError,
)
from ticketing.services.tickets import get_ticket

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class FieldError:
    field: str
    msg: str


@dataclass(frozen=True)
class _Change:
    set_values: dict[str, Any]
    detail: str
    updates: dict[str, Any] = field(default_factory=dict)


def _invalid(errors: list[FieldError]) -> UnprocessableError:
    return UnprocessableError(
        "the request is not valid",
        details={"errors": [{"field": e.field, "msg": e.msg} for e in errors]},
    )


def _history(
    ticket_id: str, workspace_id: str, event: str, actor: str, now: datetime, detail: str
) -> HistoryEvent:
    return HistoryEvent(
        workspace_id=workspace_id,
        ticket_id=ticket_id,
        event_id=ids.ulid(),
        event=event,
        actor=actor,
        at=now,
        detail=detail,
    )


def _edit(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    event: str,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None,
    plan: Callable[[Ticket], _Change | None],
) -> Ticket:
    """Read the ticket, plan the change on what was read, write it guarded by that version; on a
    lost race plan again (with If-Match, the next read answers 412)."""
    for _ in range(MAX_ATTEMPTS):
        ticket = get_ticket(repo, workspace_id, ticket_id)
        if expected_version is not None and ticket.version != expected_version:
            raise PreconditionFailedError(
                "the ticket changed since you loaded it",
                details={"ticket_id": ticket_id, "version": ticket.version},
            )
        change = plan(ticket)
        if change is None:
            return ticket
        try:
            repo.change_ticket(
                workspace_id=workspace_id,
                ticket_id=ticket_id,
                set_values=change.set_values,
                history=_history(ticket_id, workspace_id, event, actor, now, change.detail),
                expected_version=ticket.version,
            )
        except GuardFailedError:
            continue
        return ticket.model_copy(
            update={**change.updates, "version": ticket.version + 1, "last_activity_at": now}
        )
    raise ConflictError(
        "the ticket kept changing; reload and retry", details={"ticket_id": ticket_id}
    )


# ---------------------------------------------------------------------------- notes
def add_note(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    text: str,
    *,
    actor: str,
    now: datetime,
) -> Note:
    """An internal note: stored in the ticket's partition with its history event, in one
    transaction that requires the ticket (of this workspace) to exist."""
    note = Note(
        workspace_id=workspace_id,
        ticket_id=ticket_id,
        note_id=ids.ulid(),
        author=actor,
        text=text,
        created_at=now,
    )
    history = _history(ticket_id, workspace_id, "note_added", actor, now, f"note {note.note_id}")
    for _ in range(MAX_ATTEMPTS):
        try:
            repo.add_note(note=note, history=history)
        except TicketStatusChangedError as exc:
            raise NotFoundError("ticket not found", details={"ticket_id": ticket_id}) from exc
        except WriteConflictError:
            continue  # a concurrent transaction on the ticket: nothing was written, try again
        return note
    raise ConflictError("the ticket kept changing; retry", details={"ticket_id": ticket_id})


def list_notes(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    *,
    limit: int,
    cursor: str | None,
) -> Page[Note]:
    get_ticket(repo, workspace_id, ticket_id)
    return repo.list_notes(workspace_id, ticket_id, limit, cursor)


# ---------------------------------------------------------------------------- labels
def add_labels(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    labels: list[str],
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Ticket:
    """Add (already normalised) labels; those already on the ticket are left as they are."""
    wanted = list(dict.fromkeys(normalise_label(label) for label in labels))

    def plan(ticket: Ticket) -> _Change | None:
        added = [label for label in wanted if label not in ticket.labels]
        if not added:
            return None
        new = [*ticket.labels, *added]
        if len(new) > MAX_LABELS_PER_TICKET:
            raise _invalid(
                [FieldError("labels", f"a ticket has at most {MAX_LABELS_PER_TICKET} labels")]
            )
        return _Change({"labels": new}, "added: " + ", ".join(added), {"labels": new})

    return _edit(
        repo,
        workspace_id,
        ticket_id,
        "labels_changed",
        actor=actor,
        now=now,
        expected_version=expected_version,
        plan=plan,
    )


def remove_label(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    raw_label: str,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Ticket:
    """Remove a label (normalised like added ones); removing one the ticket lacks changes
    nothing and records nothing."""
    try:
        label = normalise_label(unquote(raw_label))
    except ValueError as exc:
        raise _invalid([FieldError("label", str(exc))]) from exc

    def plan(ticket: Ticket) -> _Change | None:
        if label not in ticket.labels:
            return None
        new = [existing for existing in ticket.labels if existing != label]
        return _Change({"labels": new}, f"removed: {label}", {"labels": new})

    return _edit(
        repo,
        workspace_id,
        ticket_id,
        "labels_changed",
        actor=actor,
        now=now,
        expected_version=expected_version,
        plan=plan,
    )


# ---------------------------------------------------------------------------- ticket fields
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _typed_value(definition: TicketFieldDefinition, value: Any) -> Any:
    """The value as stored, or ValueError naming what the field's type expects."""
    kind = definition.type
    if kind is FieldType.TEXT:
        if not isinstance(value, str):
            raise ValueError("must be text")
        if len(value) > MAX_TEXT_FIELD_CHARS:
            raise ValueError(f"must be at most {MAX_TEXT_FIELD_CHARS} characters")
        return value
    if kind is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be a number")
        if not math.isfinite(value) or abs(value) > MAX_NUMBER_FIELD_ABS:
            raise ValueError(f"must be a finite number between -1e15 and 1e15 ({value!r})")
        return value
    if kind is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind is FieldType.DATE:
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise ValueError("must be a date (YYYY-MM-DD)")
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"is not a calendar date ({value})") from exc
        return value
    if kind is FieldType.SINGLE_SELECT:
        if not isinstance(value, str):
            raise ValueError("must be one of the field's options")
        if value not in definition.options:
            raise ValueError(f"{value[:100]!r} is not one of the field's options")
        return value
    # multi_select
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of the field's options")
    unknown = [v for v in value if v not in definition.options]
    if unknown:
        shown = ", ".join(repr(v[:100]) for v in unknown[:5])
        raise ValueError(f"{shown} {'is' if len(unknown) == 1 else 'are'} not among the options")
    return list(dict.fromkeys(value))


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def validate_field_values(
    values: Mapping[str, Any],
    definitions: Mapping[str, TicketFieldDefinition],
    channel: Channel,
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check values (None = clear) against the workspace's definitions for a ticket of
    ``channel``. Pure. Returns the values as stored and one error per bad field (every one)."""
    accepted: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors.append(FieldError(key, "unknown field"))
            continue
        if definition.channels and channel not in definition.channels:
            allowed = ", ".join(c.value for c in definition.channels)
            errors.append(
                FieldError(key, f"not available on {channel.value} tickets (only {allowed})")
            )
            continue
        if _is_empty(value) and definition.required:
            errors.append(FieldError(key, "is required: it cannot be cleared"))
            continue
        if value is None:
            accepted[key] = None
            continue
        try:
            accepted[key] = _typed_value(definition, value)
        except ValueError as exc:
            errors.append(FieldError(key, f"{definition.type.value} field {exc}"))
    return accepted, errors


def list_ticket_fields(repo: TicketRepository, workspace_id: str) -> list[TicketFieldDefinition]:
    return repo.list_ticket_fields(workspace_id)


def put_ticket_field(
    repo: TicketRepository,
    who: Principal,
    key: str,
    command: PutTicketFieldCommand,
    *,
    now: datetime,
) -> TicketFieldDefinition:
    """Create or replace a definition (admins). Values already on tickets are kept as they are;
    they are checked against the new definition when next set."""
    require_admin(who)
    definition = TicketFieldDefinition(
        workspace_id=who.workspace_id,
        key=key,
        updated_at=now,
        updated_by=who.agent_id,
        **command.model_dump(),
    )
    repo.put_ticket_field(definition)
    return definition


def set_ticket_fields(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    values: Mapping[str, Any],
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Ticket:
    """Set or clear (null) field values, validated against the workspace's definitions: one 422
    naming every bad field, or one change of ``fields`` with a "fields_changed" event."""
    definitions = {d.key: d for d in repo.list_ticket_fields(workspace_id)}

    def plan(ticket: Ticket) -> _Change | None:
        accepted, errors = validate_field_values(values, definitions, ticket.channel)
        if errors:
            raise _invalid(errors)
        new = dict(ticket.fields)
        for key, value in accepted.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        changed = sorted(k for k in accepted if new.get(k) != ticket.fields.get(k))
        if not changed:
            return None
        set_keys = [k for k in changed if k in new]
        cleared = [k for k in changed if k not in new]
        parts = ["set: " + ", ".join(set_keys)] if set_keys else []
        parts += ["cleared: " + ", ".join(cleared)] if cleared else []
        detail = "; ".join(parts)
        return _Change({"fields": new}, detail, {"fields": new})

    return _edit(
        repo,
        workspace_id,
        ticket_id,
        "fields_changed",
        actor=actor,
        now=now,
        expected_version=expected_version,
        plan=plan,
    )
