"""Inbox views: listing them, and the projector that keeps their entries (README "Inbox views").

``GET /tickets`` lists one status or one view of it: by assignee (``me``, ``none`` = unassigned,
or an agent id), by team, by label or by channel. Every list, the status lists included, is read
from view entries that the projector writes from the table's stream: they follow the ticket within
the stream's delay (typically well under a second in AWS), never out of order. That keeps the
ticket item free of index keys, so a customer's message moves no index in its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ticketing.auth import Principal
from ticketing.errors import InvalidRequestError
from ticketing.models.annotations import normalise_label
from ticketing.models.records import Channel, Ticket, TicketStatus
from ticketing.repository.base import Page, TicketRepository
from ticketing.repository.dynamodb import DynamoTicketRepository
from ticketing.repository.views import TicketViewStore, ViewUpdate
from ticketing.views import ViewKind, view_name

ME = "me"
NONE = "none"


@dataclass(frozen=True)
class ViewQuery:
    """At most one of the filters; none = the whole status list."""

    assignee: str | None = None
    team: str | None = None
    label: str | None = None
    channel: Channel | None = None

    def view(self, who: Principal, status: TicketStatus) -> str | None:
        chosen = {
            name: value
            for name, value in (
                ("assignee", self.assignee),
                ("team", self.team),
                ("label", self.label),
                ("channel", self.channel),
            )
            if value is not None
        }
        if len(chosen) > 1:
            raise InvalidRequestError(
                "list one view at a time: use only one of assignee, team, label, channel",
                details={"filters": sorted(chosen)},
            )
        if self.assignee is not None:
            if self.assignee == NONE:
                return view_name(status, ViewKind.UNASSIGNED)
            agent = who.agent_id if self.assignee == ME else self.assignee
            return view_name(status, ViewKind.AGENT, agent)
        if self.team is not None:
            return view_name(status, ViewKind.TEAM, self.team)
        if self.label is not None:
            try:
                label = normalise_label(self.label)
            except ValueError as exc:
                raise InvalidRequestError(str(exc), details={"label": self.label}) from exc
            return view_name(status, ViewKind.LABEL, label)
        if self.channel is not None:
            return view_name(status, ViewKind.CHANNEL, Channel(self.channel).value)
        return None


def list_tickets(
    repo: TicketRepository,
    who: Principal,
    status: TicketStatus,
    query: ViewQuery,
    *,
    limit: int,
    cursor: str | None,
) -> Page[Ticket]:
    """One page of an inbox view, newest activity first: always one Query."""
    view = query.view(who, status)
    if view is None:
        return repo.list_tickets(who.workspace_id, status, limit, cursor)
    return _store(repo).list_view(who.workspace_id, view, limit=limit, cursor=cursor)


def project(
    repo: TicketRepository,
    *,
    new_image: dict[str, Any],
    old_image: dict[str, Any] | None,
    sequence_number: str,
) -> ViewUpdate:
    """Apply one stream record of a ticket item to its view entries."""
    return _store(repo).apply(
        new_image=new_image, old_image=old_image, sequence_number=sequence_number
    )


def _store(repo: TicketRepository) -> TicketViewStore:
    if not isinstance(repo, DynamoTicketRepository):  # pragma: no cover - one implementation
        raise TypeError("inbox views need the DynamoDB repository")
    return TicketViewStore(repo)
