"""Assignment automation: a workspace's ordered rules, evaluated when a ticket is created.

A rule has conditions (every one given must hold; an empty set matches every ticket) and actions
(assign, add labels, set ticket fields). The first enabled rule that matches wins (pure evaluation
in ``ticketing.automation``). The workspace's rules are stored as one versioned rule set.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ticketing.models.annotations import MAX_LABELS_PER_TICKET, Label
from ticketing.models.people import DirectoryId
from ticketing.models.records import Channel

MAX_RULES = 50
# The rule set is one item (≤ 400 KB in DynamoDB): 50 rules of at most 6 KB (as JSON) always fit.
MAX_RULE_BYTES = 6_000
MAX_CONDITION_VALUES = 20
MAX_KEYWORDS = 50
RULE_ID_PATTERN = r"^ru_[0-9A-Z]{26}$"

Keyword = Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")]
AttributeName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactAttributeCondition(_Strict):
    """A contact attribute (``display_name``, or any other the contact carries) equals or
    contains a value, case-insensitively. Exactly one of ``equals`` / ``contains``."""

    attribute: AttributeName
    equals: str | None = Field(default=None, max_length=200)
    contains: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_test(self) -> ContactAttributeCondition:
        if (self.equals is None) == (self.contains is None):
            raise ValueError("give exactly one of equals / contains")
        return self


class RuleConditions(_Strict):
    """Every condition given must hold (AND); a list matches when any of its values does (OR)."""

    channels: list[Channel] = Field(default_factory=list, max_length=len(Channel))
    account_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=MAX_CONDITION_VALUES
    )
    contact: list[ContactAttributeCondition] = Field(
        default_factory=list,
        max_length=MAX_CONDITION_VALUES,
        description="Every attribute condition must hold.",
    )
    keywords: list[Keyword] = Field(
        default_factory=list,
        max_length=MAX_KEYWORDS,
        description="The message text contains any of them as whole words (case-insensitive). "
        "A ticket opened by hand has no message text: it never matches a keyword rule.",
    )


class AssignMode(StrEnum):
    TEAM = "team"
    AGENT = "agent"
    ROUND_ROBIN = "round_robin"


class AssignAction(_Strict):
    """``team``: the team only; ``agent``: the agent (and ``team_id`` if given: the agent must be
    a member); ``round_robin``: the team and, in turn, one of its available members."""

    mode: AssignMode
    team_id: DirectoryId | None = None
    agent_id: DirectoryId | None = None

    @model_validator(mode="after")
    def _fits_the_mode(self) -> AssignAction:
        if self.mode is AssignMode.AGENT:
            if not self.agent_id:
                raise ValueError("mode agent needs agent_id")
        else:
            if not self.team_id:
                raise ValueError(f"mode {self.mode.value} needs team_id")
            if self.agent_id:
                raise ValueError(f"mode {self.mode.value} takes no agent_id")
        return self


class RuleActions(_Strict):
    assign: AssignAction | None = None
    add_labels: list[Label] = Field(default_factory=list, max_length=MAX_LABELS_PER_TICKET)
    set_fields: dict[str, Any] = Field(
        default_factory=dict,
        max_length=100,
        description="Ticket field key → value, checked against the workspace's definitions "
        "when the rule is saved (422 naming the field).",
    )

    @model_validator(mode="after")
    def _does_something(self) -> RuleActions:
        if self.assign is None and not self.add_labels and not self.set_fields:
            raise ValueError("a rule needs at least one action")
        if any(v is None for v in self.set_fields.values()):
            raise ValueError("set_fields values cannot be null")
        self.add_labels = list(dict.fromkeys(self.add_labels))
        return self


class RuleBody(_Strict):
    name: str = Field(min_length=1, max_length=100)
    enabled: bool = True
    conditions: RuleConditions = Field(default_factory=RuleConditions)
    actions: RuleActions


class CreateRuleCommand(RuleBody):
    position: int | None = Field(
        default=None, ge=0, description="0-based place in the order; default: last."
    )


class UpdateRuleCommand(RuleBody):
    """Replaces the rule (its id and place in the order are kept)."""


class Rule(RuleBody):
    model_config = ConfigDict(extra="ignore")

    rule_id: str
    updated_at: datetime
    updated_by: str


class RuleSet(BaseModel):
    """A workspace's rules in evaluation order, and the version every change bumps."""

    model_config = ConfigDict(extra="ignore")

    workspace_id: str
    version: int = 0
    rules: list[Rule] = Field(default_factory=list)

    def find(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.rule_id == rule_id), None)


# ---------------------------------------------------------------------------- API shapes
class RuleListResponse(BaseModel):
    items: list[Rule] = Field(description="In evaluation order: the first match wins.")
    version: int = Field(description="Pass to PUT /automation/rules/order.")


class RuleResponse(BaseModel):
    rule: Rule
    position: int
    version: int = Field(description="The rule set's version after this change.")


class ReorderRulesCommand(_Strict):
    rule_ids: list[Annotated[str, Field(pattern=RULE_ID_PATTERN)]] = Field(
        max_length=MAX_RULES, description="Every rule id, once, in the new order."
    )
    version: int = Field(ge=0, description="The rule set version the order was decided on.")
