"""Inbox views: which lists a ticket belongs to (pure; README "Inbox views").

A ticket of status S is listed, through view entries kept by the view projector
(functions/ticket_views, fed by the table's stream), in ``S`` (the status list: the inbox and the
auto-close's candidates), in ``S#UNASSIGNED`` or ``S#AGENT#<id>``/``S#TEAM#<id>``, in
``S#CHANNEL#<channel>`` and in ``S#LABEL#<label>`` for each label. Entries are ordered by the
ticket's last activity, so every view is one Query whose cost follows the page, not the
workspace's history. The ticket item itself carries no index keys: a message appended to it moves
no index inside the customer's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class ViewKind(StrEnum):
    UNASSIGNED = "UNASSIGNED"
    AGENT = "AGENT"
    TEAM = "TEAM"
    CHANNEL = "CHANNEL"
    LABEL = "LABEL"


def status_view(status: str) -> str:
    """The whole status list (``open``, ``closed``, ``spam``)."""
    return str(status)


def view_name(status: str, kind: ViewKind, value: str | None = None) -> str:
    return f"{status}#{kind.value}" if value is None else f"{status}#{kind.value}#{value}"


def views_of(ticket: Mapping[str, Any]) -> set[str]:
    """The views a stored ticket (its attributes as plain values) belongs to."""
    status = str(ticket["status"])
    assignee = ticket.get("assignee") or {}
    agent, team = assignee.get("agent_id"), assignee.get("team_id")
    views = {status_view(status), view_name(status, ViewKind.CHANNEL, str(ticket["channel"]))}
    if agent:
        views.add(view_name(status, ViewKind.AGENT, str(agent)))
    if team:
        views.add(view_name(status, ViewKind.TEAM, str(team)))
    if not agent and not team:
        views.add(view_name(status, ViewKind.UNASSIGNED))
    views.update(
        view_name(status, ViewKind.LABEL, str(label)) for label in ticket.get("labels") or ()
    )
    return views
