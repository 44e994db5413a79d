"""Assignment automation as pure rules (first match wins), and what a new ticket gets from them
(``NewTicketAutomation`` over an in-memory store)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ticketing.automation import (
    TicketFacts,
    contact_attributes,
    first_match,
    keyword_matches,
    matches,
    needs_contact,
    round_robin_pick,
)
from ticketing.models.automation import (
    AssignAction,
    CreateRuleCommand,
    Rule,
    RuleActions,
    RuleConditions,
    RuleSet,
)
from ticketing.models.records import Assignee, Channel, Contact, Ticket, TicketStatus
from ticketing.services import automation as service
from ticketing.services.automation import NewTicketAutomation, load_rules

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
CHANNELS = st.sampled_from(list(Channel))


def rule(
    name: str = "r",
    *,
    enabled: bool = True,
    conditions: dict[str, Any] | None = None,
    actions: dict[str, Any] | None = None,
    rule_id: str = "ru_" + "0" * 26,
) -> Rule:
    return Rule.model_validate(
        {
            "rule_id": rule_id,
            "name": name,
            "enabled": enabled,
            "conditions": conditions or {},
            "actions": actions or {"add_labels": ["vip"]},
            "updated_at": NOW,
            "updated_by": "admin-1",
        }
    )


def ticket(channel: Channel = Channel.MESSENGER, account_id: str = "page-1") -> Ticket:
    return Ticket(
        workspace_id="ws-1",
        ticket_id="t_1",
        number=1,
        conversation_id="cv_1",
        contact_id="ct_1",
        channel=channel,
        account_id=account_id,
        status=TicketStatus.OPEN,
        created_at=NOW,
        last_activity_at=NOW,
    )


# ---------------------------------------------------------------------------- conditions
@st.composite
def rules_and_facts(draw: st.DrawFn) -> tuple[list[Rule], TicketFacts]:
    facts = TicketFacts(
        channel=draw(CHANNELS),
        account_id=draw(st.sampled_from(["a1", "a2", "a3"])),
        text=" ".join(draw(st.lists(WORD, max_size=6))),
    )
    rules = []
    for i in range(draw(st.integers(0, 6))):
        conditions: dict[str, Any] = {}
        if draw(st.booleans()):
            conditions["channels"] = draw(st.lists(CHANNELS, min_size=1, max_size=3, unique=True))
        if draw(st.booleans()):
            accounts = st.sampled_from(["a1", "a2", "a3"])
            conditions["account_ids"] = draw(st.lists(accounts, min_size=1, max_size=2))
        if draw(st.booleans()):
            conditions["keywords"] = draw(st.lists(WORD, min_size=1, max_size=3))
        rules.append(
            rule(f"r{i}", enabled=draw(st.booleans()), conditions=conditions, rule_id=f"r{i}")
        )
    return rules, facts


@given(rules_and_facts())
def test_first_match_is_the_first_enabled_rule_that_matches(case):
    # GIVEN any ordered rules and the facts of a new ticket
    rules, facts = case
    # WHEN the rules are evaluated
    found = first_match(rules, facts)
    # THEN it is an enabled matching rule, and no enabled rule before it matches
    candidates = [r for r in rules if r.enabled and matches(r.conditions, facts)]
    assert found == (candidates[0] if candidates else None)
    if found is not None:
        before = rules[: rules.index(found)]
        assert not any(r.enabled and matches(r.conditions, facts) for r in before)


@given(rules_and_facts(), st.integers(0, 6))
def test_an_enabled_catch_all_rule_stops_the_search(case, at):
    # GIVEN rules with an enabled rule without conditions inserted somewhere
    rules, facts = case
    catch_all = rule("catch-all", rule_id="catch")
    rules.insert(min(at, len(rules)), catch_all)
    # WHEN evaluated
    found = first_match(rules, facts)
    # THEN the search never goes past it
    assert found is not None
    assert rules.index(found) <= rules.index(catch_all)


@given(rules_and_facts())
def test_disabled_rules_never_match(case):
    rules, facts = case
    disabled = [r.model_copy(update={"enabled": False}) for r in rules]
    assert first_match(disabled, facts) is None


@given(CHANNELS, st.lists(CHANNELS, min_size=1, unique=True))
def test_channel_condition_holds_exactly_for_listed_channels(channel, listed):
    conditions = RuleConditions(channels=listed)
    assert matches(conditions, TicketFacts(channel, "a1")) is (channel in listed)


@given(st.lists(WORD, min_size=1, max_size=8), st.data())
def test_a_word_of_the_text_matches_in_any_case(words, data):
    # GIVEN a text and one of its words, in another case, with punctuation around the text
    word = data.draw(st.sampled_from(words))
    text = "Hi, " + " ".join(words) + "!"
    # WHEN matched as a keyword  THEN it matches
    assert keyword_matches(text, word.upper())


@given(st.lists(WORD, min_size=1, max_size=8), st.data())
def test_part_of_a_word_is_not_a_match(words, data):
    # GIVEN a text and a strict part of one of its words that is not itself a word of it
    word = data.draw(st.sampled_from(words).filter(lambda w: len(w) > 1))
    part = word[: data.draw(st.integers(1, len(word) - 1))]
    text = " ".join(words)
    # THEN the part matches only if it occurs as a whole word somewhere
    assert keyword_matches(text, part) is (part in words)


def test_phrases_and_punctuation():
    assert keyword_matches("Where is my REFUND, please?", "refund")
    assert keyword_matches("I want a  refund   now", "refund now")
    assert not keyword_matches("refunds", "refund")
    assert not keyword_matches(None, "refund")
    assert keyword_matches("คืนเงิน please", "คืนเงิน")


def test_contact_conditions_equal_or_contain_ignoring_case():
    # GIVEN a contact and rules on its attributes
    contact = contact_attributes(
        Contact(workspace_id="ws-1", contact_id="ct_1", display_name="Ann VIP", created_at=NOW)
    )
    equal = RuleConditions.model_validate(
        {"contact": [{"attribute": "display_name", "equals": "ann vip"}]}
    )
    contain = RuleConditions.model_validate(
        {"contact": [{"attribute": "display_name", "contains": "VIP"}]}
    )
    other = RuleConditions.model_validate(
        {"contact": [{"attribute": "display_name", "contains": "gold"}]}
    )
    missing = RuleConditions.model_validate({"contact": [{"attribute": "tier", "equals": "x"}]})
    facts = TicketFacts(Channel.LINE, "a1", None, contact)
    # THEN
    assert matches(equal, facts)
    assert matches(contain, facts)
    assert not matches(other, facts)
    assert not matches(missing, facts)
    assert not matches(contain, TicketFacts(Channel.LINE, "a1"))  # contact unknown
    assert needs_contact([rule(conditions={"contact": [{"attribute": "x", "equals": "y"}]})])
    assert not needs_contact([rule()])


# ---------------------------------------------------------------------------- round-robin
@given(st.lists(WORD, min_size=1, max_size=8, unique=True), st.integers(0, 1000), st.integers(1, 5))
def test_consecutive_turns_spread_evenly(agents, start, rounds):
    # GIVEN available agents (in any order) and len(agents) * rounds consecutive turns
    turns = range(start, start + len(agents) * rounds)
    # WHEN each turn picks
    picks = Counter(round_robin_pick(list(reversed(agents)), t) for t in turns)
    # THEN every agent gets exactly `rounds`, whatever the order they were given in
    assert picks == dict.fromkeys(agents, rounds)
    assert all(round_robin_pick(agents, t) == round_robin_pick(sorted(agents), t) for t in turns)


def test_no_available_agent_picks_nobody():
    assert round_robin_pick([], 3) is None


# ---------------------------------------------------------------------------- models
@pytest.mark.parametrize(
    "assign",
    [
        {"mode": "team"},
        {"mode": "team", "team_id": "t1", "agent_id": "a1"},
        {"mode": "agent", "team_id": "t1"},
        {"mode": "round_robin", "agent_id": "a1"},
        {"mode": "nobody", "team_id": "t1"},
    ],
)
def test_assign_actions_must_fit_their_mode(assign):
    with pytest.raises(ValidationError):
        AssignAction.model_validate(assign)


def test_a_rule_needs_an_action_and_normalises_labels():
    with pytest.raises(ValidationError):
        RuleActions.model_validate({})
    with pytest.raises(ValidationError):
        CreateRuleCommand.model_validate({"name": "x", "actions": {"set_fields": {"a": None}}})
    actions = RuleActions.model_validate({"add_labels": [" VIP ", "vip", "Gold"]})
    assert actions.add_labels == ["vip", "gold"]


# ---------------------------------------------------------------------------- applying rules
class MemoryStore:
    def __init__(self, rules: list[Rule], members: dict[str, list[str]] | None = None) -> None:
        self.rule_set = RuleSet(workspace_id="ws-1", version=1, rules=rules)
        self.members = members or {}
        self.turns: Counter[str] = Counter()
        self.reads = 0

    def get_rule_set(self, workspace_id: str, *, consistent: bool) -> RuleSet:
        self.reads += 1
        return self.rule_set

    def save_rule_set(self, rule_set: RuleSet, *, seen_version: int) -> None:
        self.rule_set = rule_set

    def next_turn(self, workspace_id: str, team_id: str) -> int:
        self.turns[team_id] += 1
        return self.turns[team_id]

    def available_members(self, workspace_id: str, team_id: str) -> list[str]:
        return sorted(self.members.get(team_id, []))

    def get_contact(self, workspace_id: str, contact_id: str) -> Contact | None:
        return None


@pytest.fixture(autouse=True)
def _fresh_cache():
    service._rule_sets.clear()
    yield
    service._rule_sets.clear()


def test_matching_rule_sets_assignee_labels_fields_with_history_after_created():
    # GIVEN a keyword rule that assigns a team's agents in turn, labels and sets a field
    store = MemoryStore(
        [
            rule("other channel", conditions={"channels": ["line"]}, rule_id="r0"),
            rule(
                "Refunds",
                conditions={"keywords": ["refund"]},
                actions={
                    "assign": {"mode": "round_robin", "team_id": "billing"},
                    "add_labels": ["refund"],
                    "set_fields": {"priority": "high"},
                },
                rule_id="r1",
            ),
        ],
        members={"billing": ["b", "a"]},
    )
    plan = NewTicketAutomation(store, "ws-1", 1, text="I want a Refund")
    # WHEN applied to a new Messenger ticket
    applied, events = plan.apply(ticket(), NOW)
    # THEN the first turn (1) goes to the second agent by id, and each action is recorded
    assert applied.assignee == Assignee(agent_id="b", team_id="billing")
    assert applied.labels == ["refund"]
    assert applied.fields == {"priority": "high"}
    assert applied.assignee_changed_at == NOW + timedelta(milliseconds=1)
    assert [(e.event, e.actor) for e in events] == [
        ("assigned", "automation"),
        ("labels_changed", "automation"),
        ("fields_changed", "automation"),
    ]
    assert events[0].detail == "nobody → agent:b team:billing (assigned by automation: Refunds)"
    assert all(e.at > NOW for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)
    # AND a retried attempt reuses the decision (no second turn)
    again, _ = plan.apply(ticket().model_copy(update={"ticket_id": "t_2"}), NOW)
    assert again.assignee == applied.assignee
    assert store.turns["billing"] == 1


def test_no_match_leaves_the_ticket_unassigned():
    store = MemoryStore([rule(conditions={"keywords": ["refund"]})])
    applied, events = NewTicketAutomation(store, "ws-1", 1, text="hello").apply(ticket(), NOW)
    assert applied == ticket()
    assert events == []


def test_version_zero_reads_nothing_and_a_cached_version_is_reused():
    store = MemoryStore([rule()])
    assert load_rules(store, "ws-1", 0).rules == []
    assert store.reads == 0
    load_rules(store, "ws-1", 1)
    load_rules(store, "ws-1", 1)
    assert store.reads == 1
    store.rule_set = store.rule_set.model_copy(update={"version": 2, "rules": []})
    assert load_rules(store, "ws-1", 2).rules == []
    assert store.reads == 2


def test_refused_round_robin_takes_a_turn_again_then_falls_back_to_the_team():
    # GIVEN a round-robin rule whose chosen member's membership was removed meanwhile
    store = MemoryStore(
        [rule(actions={"assign": {"mode": "round_robin", "team_id": "t"}})],
        members={"t": ["a", "b"]},
    )
    plan = NewTicketAutomation(store, "ws-1", 1)
    first, _ = plan.apply(ticket(), NOW)
    assert first.assignee == Assignee(agent_id="b", team_id="t")
    store.members["t"] = ["a"]
    # WHEN the create transaction refuses it once  THEN the next turn names a present member
    plan.refused(("member",))
    second, _ = plan.apply(ticket(), NOW)
    assert second.assignee == Assignee(agent_id="a", team_id="t")
    # WHEN refused again  THEN the team alone
    plan.refused(("member",))
    third, events = plan.apply(ticket(), NOW)
    assert third.assignee == Assignee(team_id="t")
    assert re.search(r"nobody → team:t", events[0].detail or "")
    # WHEN the team itself is gone  THEN nobody
    plan.refused(("team",))
    fourth, events = plan.apply(ticket(), NOW)
    assert fourth.assignee == Assignee()
    assert [e.event for e in events] == []


def test_round_robin_without_available_agents_assigns_the_team():
    store = MemoryStore(
        [rule(actions={"assign": {"mode": "round_robin", "team_id": "t"}})], members={"t": []}
    )
    applied, _ = NewTicketAutomation(store, "ws-1", 1).apply(ticket(), NOW)
    assert applied.assignee == Assignee(team_id="t")
    assert store.turns["t"] == 0
