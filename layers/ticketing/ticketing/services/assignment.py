"""Assigning a ticket to an agent and/or a team, or unassigning it.

Every change goes through the repository's ``change_ticket`` transaction, guarded by the ticket
version this service read: the history event's "from → to" is therefore always the assignee the
write replaced, and each change is recorded exactly once. With ``If-Match`` a lost race is a 412
(the agent decided on what they saw); without it, the last write wins: the service retries on
the ticket as it now is, with an event time after the change it lost to, so the ticket's latest
assignment event always names its current assignee.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ticketing import ids
from ticketing.errors import (
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    TicketEngineError,
    UnprocessableError,
)
from ticketing.models.records import Assignee, HistoryEvent, Ticket
from ticketing.repository.base import (
    DirectoryRecordMissingError,
    TicketRepository,
    TicketStatusChangedError,
    WriteConflictError,
)
from ticketing.services.tickets import get_ticket

MAX_ATTEMPTS = 10
ASSIGNED = "assigned"
UNASSIGNED = "unassigned"


def describe(assignee: Assignee) -> str:
    """``agent:<id> team:<id>``, either part left out when unset; ``nobody`` when unassigned."""
    parts = [f"agent:{assignee.agent_id}"] if assignee.agent_id else []
    parts += [f"team:{assignee.team_id}"] if assignee.team_id else []
    return " ".join(parts) or "nobody"


def assign(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    changes: dict[str, str | None],
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Ticket:
    """Apply ``changes`` ({"agent_id"?, "team_id"?}: a key left out keeps its value, None
    clears it). The agent and team must exist in the workspace, and the agent must be a member
    of the team when the ticket ends up with both (422 naming the field otherwise)."""
    ticket = get_ticket(repo, workspace_id, ticket_id)
    for _ in range(MAX_ATTEMPTS):
        if expected_version is not None and ticket.version != expected_version:
            raise _stale(ticket)
        target = Assignee.model_validate(ticket.assignee.model_dump() | changes)
        if target == ticket.assignee:
            return ticket  # nothing changes: no write, no history event
        at = now
        if ticket.assignee_changed_at is not None:
            at = max(now, ticket.assignee_changed_at + timedelta(milliseconds=1))
        try:
            repo.assign_ticket(
                workspace_id=workspace_id,
                ticket_id=ticket_id,
                assignee=target,
                at=at,
                history=HistoryEvent(
                    workspace_id=workspace_id,
                    ticket_id=ticket_id,
                    event_id=ids.ulid(),
                    event=ASSIGNED if target.agent_id or target.team_id else UNASSIGNED,
                    actor=actor,
                    at=at,
                    from_status=ticket.status,
                    detail=f"{describe(ticket.assignee)} → {describe(target)}",
                ),
                seen_version=ticket.version,
            )
        except DirectoryRecordMissingError as exc:
            raise _rejected(target, exc) from exc
        except TicketStatusChangedError as exc:
            if exc.current is None:
                raise NotFoundError("ticket not found", details={"ticket_id": ticket_id}) from exc
            ticket = exc.current  # another change won: decide again on the ticket as it is
            continue
        except WriteConflictError:
            ticket = get_ticket(repo, workspace_id, ticket_id)
            continue
        return ticket.model_copy(
            update={
                "assignee": target,
                "assignee_changed_at": at,
                "last_activity_at": at,
                "version": ticket.version + 1,
            }
        )
    raise ConflictError(
        "the ticket kept changing while assigning it; retry", details={"ticket_id": ticket_id}
    )


def unassign(
    repo: TicketRepository,
    workspace_id: str,
    ticket_id: str,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Ticket:
    return assign(
        repo,
        workspace_id,
        ticket_id,
        {"agent_id": None, "team_id": None},
        actor=actor,
        now=now,
        expected_version=expected_version,
    )


def _stale(ticket: Ticket) -> PreconditionFailedError:
    return PreconditionFailedError(
        "the ticket changed since you loaded it",
        details={"ticket_id": ticket.ticket_id, "version": ticket.version},
    )


def _rejected(target: Assignee, exc: DirectoryRecordMissingError) -> TicketEngineError:
    errors = []
    if "agent" in exc.missing:
        errors.append({"loc": "body.agent_id", "msg": f"no agent {target.agent_id!r} here"})
    if "team" in exc.missing:
        errors.append({"loc": "body.team_id", "msg": f"no team {target.team_id!r} here"})
    if "member" in exc.missing and not errors:
        errors.append(
            {
                "loc": "body.agent_id",
                "msg": f"agent {target.agent_id!r} is not a member of team {target.team_id!r}",
            }
        )
    return UnprocessableError("the assignee is not valid", details={"errors": errors})
