"""Which inbox views a ticket belongs to (pure), and the view a listing asks for."""

from __future__ import annotations

import pytest

from ticketing.auth import Principal
from ticketing.errors import InvalidRequestError
from ticketing.models.records import Channel, TicketStatus
from ticketing.repository.views import sequence_key
from ticketing.services.views import ViewQuery
from ticketing.views import views_of

WHO = Principal(agent_id="agent-1", workspace_id="ws-1")


def ticket(status: str = "open", agent: str | None = None, team: str | None = None, labels=()):
    return {
        "status": status,
        "channel": "line",
        "assignee": {"agent_id": agent, "team_id": team},
        "labels": list(labels),
    }


def test_an_unassigned_ticket_is_in_its_status_list_unassigned_and_its_channel():
    assert views_of(ticket()) == {"open", "open#UNASSIGNED", "open#CHANNEL#line"}


def test_agent_team_and_labels_each_give_a_view_of_the_status():
    views = views_of(ticket("closed", agent="a1", team="t1", labels=["vip", "refund"]))
    assert views == {
        "closed",
        "closed#AGENT#a1",
        "closed#TEAM#t1",
        "closed#CHANNEL#line",
        "closed#LABEL#vip",
        "closed#LABEL#refund",
    }


@pytest.mark.parametrize("status", ["open", "closed", "spam"])
def test_every_ticket_is_in_exactly_one_status_list(status):
    views = views_of(ticket(status, agent="a1", labels=["vip"]))
    assert [v for v in views if "#" not in v] == [status]


def test_a_team_only_ticket_is_not_unassigned():
    assert "open#UNASSIGNED" not in views_of(ticket(team="t1"))
    assert "open#TEAM#t1" in views_of(ticket(team="t1"))


def test_an_empty_assignee_map_means_unassigned():
    # a stored ticket may carry assignee as an empty map
    assert "open#UNASSIGNED" in views_of({**ticket(), "assignee": {}})


@pytest.mark.parametrize(
    ("query", "view"),
    [
        (ViewQuery(), None),
        (ViewQuery(assignee="me"), "open#AGENT#agent-1"),
        (ViewQuery(assignee="none"), "open#UNASSIGNED"),
        (ViewQuery(assignee="a-2"), "open#AGENT#a-2"),
        (ViewQuery(team="t1"), "open#TEAM#t1"),
        (ViewQuery(label="  VIP "), "open#LABEL#vip"),
        (ViewQuery(channel=Channel.SHOPEE), "open#CHANNEL#shopee"),
    ],
)
def test_the_query_names_one_view_of_the_status(query, view):
    assert query.view(WHO, TicketStatus.OPEN) == view


def test_two_filters_at_once_are_refused_naming_them():
    with pytest.raises(InvalidRequestError) as refused:
        ViewQuery(team="t1", channel=Channel.LINE).view(WHO, TicketStatus.OPEN)
    assert refused.value.details == {"filters": ["channel", "team"]}


def test_sequence_numbers_sort_like_numbers():
    assert sequence_key("99") < sequence_key("100") < sequence_key("4421584500000000017450439091")
