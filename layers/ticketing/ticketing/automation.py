"""Pure assignment-automation rules (no I/O): which rule a new ticket matches, and whom a
round-robin turn names.

The first enabled rule whose conditions all hold wins; none leaves the ticket as it is
(unassigned). Conditions: channel, channel account, contact attributes (equals / contains,
case-insensitive), message keywords (whole words, case-insensitive).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ticketing.models.automation import ContactAttributeCondition, Rule, RuleConditions
from ticketing.models.records import Channel, Contact


@dataclass(frozen=True)
class TicketFacts:
    """What a rule may look at when a ticket is created. ``contact`` is None when unknown (the
    caller loads it only if a rule asks: ``needs_contact``)."""

    channel: Channel
    account_id: str
    text: str | None = None
    contact: Mapping[str, str] | None = None


def needs_contact(rules: Sequence[Rule]) -> bool:
    return any(rule.enabled and rule.conditions.contact for rule in rules)


def contact_attributes(contact: Contact | None) -> dict[str, str]:
    """The contact's attributes as text: its top-level values, and the entries of any mapping it
    holds (e.g. custom attributes) under their own names."""
    if contact is None:
        return {}
    flat: dict[str, str] = {}

    def put(name: str, value: Any) -> None:
        if isinstance(value, bool):
            flat.setdefault(name, "true" if value else "false")
        elif isinstance(value, (str, int, float)):
            flat.setdefault(name, str(value))

    for name, value in contact.model_dump(mode="json", exclude={"workspace_id"}).items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                put(str(sub), inner)
        else:
            put(name, value)
    return flat


@lru_cache(maxsize=1024)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    words = keyword.casefold().split()
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)")


def keyword_matches(text: str | None, keyword: str) -> bool:
    """``keyword`` (one word or a phrase) appears in ``text`` as whole words, ignoring case."""
    if not text or not keyword.split():
        return False
    return _keyword_pattern(keyword).search(text.casefold()) is not None


def _attribute_holds(condition: ContactAttributeCondition, contact: Mapping[str, str]) -> bool:
    value = contact.get(condition.attribute)
    if value is None:
        return False
    if condition.equals is not None:
        return value.strip().casefold() == condition.equals.strip().casefold()
    assert condition.contains is not None
    return condition.contains.casefold() in value.casefold()


def matches(conditions: RuleConditions, facts: TicketFacts) -> bool:
    if conditions.channels and facts.channel not in conditions.channels:
        return False
    if conditions.account_ids and facts.account_id not in conditions.account_ids:
        return False
    if conditions.contact:
        contact = facts.contact or {}
        if not all(_attribute_holds(c, contact) for c in conditions.contact):
            return False
    keywords = conditions.keywords
    return not keywords or any(keyword_matches(facts.text, k) for k in keywords)


def first_match(rules: Sequence[Rule], facts: TicketFacts) -> Rule | None:
    """The first enabled rule, in order, whose conditions all hold."""
    return next((r for r in rules if r.enabled and matches(r.conditions, facts)), None)


def round_robin_pick(available: Sequence[str], turn: int) -> str | None:
    """The agent whose turn ``turn`` is (a team counter's value): agents sorted by id, so every
    writer sees the same order, and consecutive turns name each available agent in sequence."""
    if not available:
        return None
    ordered = sorted(set(available))
    return ordered[turn % len(ordered)]
