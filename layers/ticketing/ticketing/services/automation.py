"""Assignment automation: the rules API's use cases, and what a new ticket gets from the rules.

When a ticket is created (a customer message's new ticket, or an agent opening one by hand) the
workspace's rules are evaluated (``ticketing.automation.first_match``: first enabled match wins) and
the matching rule's actions are set on the ``Ticket`` before the creating transaction, with their
history events (actor ``automation``) and the assignee's membership check in that same
transaction: a ticket is never stored half-automated, nor with an agent no longer in its team.

Round-robin: the team's available members (sorted by id) and the team's turn counter (an atomic
``ADD``): concurrent creations get distinct turns, so they spread evenly with no read-then-write.
When the create transaction finds the chosen membership gone, the turn is taken again once, then
the ticket goes to the team alone.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ticketing import ids
from ticketing.auth import Principal, require_admin
from ticketing.automation import (
    TicketFacts,
    contact_attributes,
    first_match,
    needs_contact,
    round_robin_pick,
)
from ticketing.errors import (
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    UnprocessableError,
)
from ticketing.models.automation import (
    MAX_RULE_BYTES,
    MAX_RULES,
    AssignMode,
    CreateRuleCommand,
    ReorderRulesCommand,
    Rule,
    RuleBody,
    RuleSet,
    UpdateRuleCommand,
)
from ticketing.models.records import Assignee, Channel, Contact, HistoryEvent, Ticket
from ticketing.repository.automation import AutomationStore, RuleSetChangedError
from ticketing.repository.base import TicketRepository, WriteConflictError

AUTOMATION = "automation"
MAX_ATTEMPTS = 10

# A warm container's copy of each workspace's rule set. Ingest knows the current version from the
# workspace item it reads anyway, so a copy at that version is exact, and only a change of the
# rules costs a read.
_rule_sets: dict[str, RuleSet] = {}
_MAX_CACHED = 256


def load_rules(store: AutomationStore, workspace_id: str, version: int | None) -> RuleSet:
    """The workspace's rule set. ``version`` (from the workspace item, read consistently):
    0 = no rules, nothing read; a cached copy at that version is used as is. None = unknown:
    read consistently."""
    if version == 0:
        return RuleSet(workspace_id=workspace_id)
    cached = _rule_sets.get(workspace_id)
    if cached is not None and version is not None and cached.version == version:
        return cached
    rule_set = store.get_rule_set(workspace_id, consistent=version is None)
    if version is not None and rule_set.version < version:  # an eventually consistent copy lagged
        rule_set = store.get_rule_set(workspace_id, consistent=True)
    if len(_rule_sets) >= _MAX_CACHED:
        _rule_sets.clear()
    _rule_sets[workspace_id] = rule_set
    return rule_set


# ---------------------------------------------------------------------------- applying rules
def _describe(assignee: Assignee) -> str:
    parts = [f"agent:{assignee.agent_id}"] if assignee.agent_id else []
    parts += [f"team:{assignee.team_id}"] if assignee.team_id else []
    return " ".join(parts) or "nobody"


@dataclass
class NewTicketAutomation:
    """What the rules give one ticket creation. Decided once (the round-robin turn is taken
    once), then applied to each attempt's ticket; ``refused`` after the creating transaction found
    the assignee's agent, team or membership missing."""

    store: AutomationStore | None
    workspace_id: str
    version: int | None
    text: str | None = None
    contact: Callable[[], Contact | None] = field(default=lambda: None)
    _decided: bool = False
    _rule: Rule | None = None
    _assignee: Assignee = field(default_factory=Assignee)
    _retried_turn: bool = False

    def _decide(self, ticket: Ticket) -> None:
        if self._decided:
            return
        self._decided = True
        if self.store is None:
            return
        rules = load_rules(self.store, self.workspace_id, self.version).rules
        if not rules:
            return
        contact = contact_attributes(self.contact()) if needs_contact(rules) else None
        facts = TicketFacts(ticket.channel, ticket.account_id, self.text, contact)
        self._rule = first_match(rules, facts)
        if self._rule is not None:
            self._assignee = self._assign(self._rule)

    def _assign(self, rule: Rule) -> Assignee:
        action = rule.actions.assign
        if action is None or self.store is None:
            return Assignee()
        if action.mode is AssignMode.TEAM:
            return Assignee(team_id=action.team_id)
        if action.mode is AssignMode.AGENT:
            return Assignee(agent_id=action.agent_id, team_id=action.team_id)
        assert action.team_id is not None
        available = self.store.available_members(self.workspace_id, action.team_id)
        if not available:
            return Assignee(team_id=action.team_id)  # nobody available: the team's queue
        turn = self.store.next_turn(self.workspace_id, action.team_id)
        return Assignee(agent_id=round_robin_pick(available, turn), team_id=action.team_id)

    def refused(self, missing: tuple[str, ...]) -> None:
        """The create transaction found the assignee's ``missing`` records gone (the membership:
        "member"): a round-robin takes its turn again once, else the team alone (no one, should
        the team itself be reported missing)."""
        rule, team_id = self._rule, self._assignee.team_id
        action = rule.actions.assign if rule else None
        if "team" in missing or team_id is None:
            self._assignee = Assignee()
        elif action and action.mode is AssignMode.ROUND_ROBIN and not self._retried_turn:
            self._retried_turn = True
            assert rule is not None
            self._assignee = self._assign(rule)
        else:
            self._assignee = Assignee(team_id=team_id)

    def apply(self, ticket: Ticket, now: datetime) -> tuple[Ticket, list[HistoryEvent]]:
        """The ticket with the matching rule's actions set, and their history events (after the
        ticket's "created" event)."""
        self._decide(ticket)
        rule = self._rule
        if rule is None:
            return ticket, []
        events: list[HistoryEvent] = []
        updates: dict[str, Any] = {}

        def event(name: str, detail: str) -> datetime:
            at = now + timedelta(milliseconds=len(events) + 1)
            events.append(
                HistoryEvent(
                    workspace_id=ticket.workspace_id,
                    ticket_id=ticket.ticket_id,
                    event_id=ids.ulid(),
                    event=name,
                    actor=AUTOMATION,
                    at=at,
                    from_status=ticket.status,
                    detail=detail,
                )
            )
            return at

        if self._assignee.agent_id or self._assignee.team_id:
            detail = f"nobody → {_describe(self._assignee)} (assigned by automation: {rule.name})"
            updates["assignee_changed_at"] = event("assigned", detail)
            updates["assignee"] = self._assignee
        labels = [label for label in rule.actions.add_labels if label not in ticket.labels]
        if labels:
            event("labels_changed", f"added: {', '.join(labels)} (automation: {rule.name})")
            updates["labels"] = [*ticket.labels, *labels]
        if rule.actions.set_fields:
            keys = sorted(rule.actions.set_fields)
            event("fields_changed", f"set: {', '.join(keys)} (automation: {rule.name})")
            updates["fields"] = {**ticket.fields, **rule.actions.set_fields}
        return ticket.model_copy(update=updates), events


# ---------------------------------------------------------------------------- the rules API
@dataclass(frozen=True)
class RuleView:
    rule: Rule
    position: int
    version: int


def list_rules(store: AutomationStore, who: Principal) -> RuleSet:
    return store.get_rule_set(who.workspace_id, consistent=True)


def get_rule(store: AutomationStore, who: Principal, rule_id: str) -> RuleView:
    rule_set = store.get_rule_set(who.workspace_id, consistent=True)
    rule = rule_set.find(rule_id)
    if rule is None:
        raise _no_rule(rule_id)
    return RuleView(rule, rule_set.rules.index(rule), rule_set.version)


def _no_rule(rule_id: str) -> NotFoundError:
    return NotFoundError("rule not found", details={"rule_id": rule_id})


def _check(repo: TicketRepository, workspace_id: str, body: RuleBody) -> dict[str, Any]:
    """422 naming every bad part of the rule's actions: set_fields values checked against the
    workspace's ticket field definitions for every channel the rule can match; the assign
    action's team and agent must exist. Returns set_fields as they will be stored."""
    # imported here: services.annotations → services.tickets → services.ingest → this module
    from ticketing.services.annotations import validate_field_values

    errors: list[dict[str, str]] = []
    stored: dict[str, Any] = {}
    values = body.actions.set_fields
    if values:
        definitions = {d.key: d for d in repo.list_ticket_fields(workspace_id)}
        seen: set[str] = set()
        for channel in body.conditions.channels or list(Channel):
            accepted, bad = validate_field_values(values, definitions, channel)
            stored = stored or accepted
            for error in bad:
                if error.field not in seen:
                    seen.add(error.field)
                    errors.append(
                        {
                            "field": error.field,
                            "loc": f"body.actions.set_fields.{error.field}",
                            "msg": error.msg,
                        }
                    )
    action = body.actions.assign
    if action is not None:
        if action.team_id and repo.get_team(workspace_id, action.team_id) is None:
            errors.append(
                {
                    "field": "team_id",
                    "loc": "body.actions.assign.team_id",
                    "msg": f"no team {action.team_id!r} here",
                }
            )
        if action.agent_id and repo.get_agent(workspace_id, action.agent_id) is None:
            errors.append(
                {
                    "field": "agent_id",
                    "loc": "body.actions.assign.agent_id",
                    "msg": f"no agent {action.agent_id!r} here",
                }
            )
        elif action.agent_id and action.team_id and not errors:
            members = {m.agent_id for m in repo.list_team_members(workspace_id, action.team_id)}
            if action.agent_id not in members:
                errors.append(
                    {
                        "field": "agent_id",
                        "loc": "body.actions.assign.agent_id",
                        "msg": f"agent {action.agent_id!r} is not a member of team "
                        f"{action.team_id!r}",
                    }
                )
    if errors:
        raise UnprocessableError("the rule is not valid", details={"errors": errors})
    return stored


def _fits(rule: Rule) -> Rule:
    size = len(rule.model_dump_json().encode())
    if size > MAX_RULE_BYTES:
        raise UnprocessableError(
            "the rule is too large",
            details={
                "errors": [
                    {"field": "rule", "loc": "body", "msg": f"{size} bytes > {MAX_RULE_BYTES}"}
                ]
            },
        )
    return rule


def _save(
    store: AutomationStore,
    workspace_id: str,
    change: Callable[[RuleSet], tuple[list[Rule], Rule | None]],
    *,
    expected_version: int | None = None,
) -> tuple[RuleSet, Rule | None]:
    """Read the rule set, change it, write it guarded by the version read; a concurrent change
    makes it change again on the fresh set (with ``expected_version``: 412 instead)."""
    for attempt in range(MAX_ATTEMPTS):
        current = store.get_rule_set(workspace_id, consistent=True)
        if expected_version is not None and current.version != expected_version:
            raise PreconditionFailedError(
                "the rules changed since you loaded them", details={"version": current.version}
            )
        rules, rule = change(current)
        new = RuleSet(workspace_id=workspace_id, version=current.version + 1, rules=rules)
        try:
            store.save_rule_set(new, seen_version=current.version)
        except (RuleSetChangedError, WriteConflictError):
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not crypto
            continue
        return new, rule
    raise ConflictError("the rules kept changing; retry")


def create_rule(
    store: AutomationStore,
    repo: TicketRepository,
    who: Principal,
    command: CreateRuleCommand,
    *,
    now: datetime,
) -> RuleView:
    require_admin(who)
    set_fields = _check(repo, who.workspace_id, command)
    body = command.model_dump(exclude={"position"})
    body["actions"]["set_fields"] = set_fields
    rule = _fits(
        Rule.model_validate(
            {**body, "rule_id": "ru_" + ids.ulid(), "updated_at": now, "updated_by": who.agent_id}
        )
    )

    def insert(current: RuleSet) -> tuple[list[Rule], Rule | None]:
        if len(current.rules) >= MAX_RULES:
            raise ConflictError(
                f"a workspace has at most {MAX_RULES} rules", details={"limit": MAX_RULES}
            )
        rules = list(current.rules)
        at = len(rules) if command.position is None else min(command.position, len(rules))
        rules.insert(at, rule)
        return rules, rule

    rule_set, _ = _save(store, who.workspace_id, insert)
    return RuleView(rule, rule_set.rules.index(rule), rule_set.version)


def update_rule(
    store: AutomationStore,
    repo: TicketRepository,
    who: Principal,
    rule_id: str,
    command: UpdateRuleCommand,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> RuleView:
    """Replace a rule's name, enabled, conditions and actions (its id and place stay)."""
    require_admin(who)
    set_fields = _check(repo, who.workspace_id, command)
    body = command.model_dump()
    body["actions"]["set_fields"] = set_fields

    def replace(current: RuleSet) -> tuple[list[Rule], Rule | None]:
        old = current.find(rule_id)
        if old is None:
            raise _no_rule(rule_id)
        new = _fits(
            Rule.model_validate(
                {**body, "rule_id": rule_id, "updated_at": now, "updated_by": who.agent_id}
            )
        )
        return [new if r.rule_id == rule_id else r for r in current.rules], new

    rule_set, rule = _save(store, who.workspace_id, replace, expected_version=expected_version)
    assert rule is not None
    return RuleView(rule, rule_set.rules.index(rule), rule_set.version)


def delete_rule(
    store: AutomationStore,
    who: Principal,
    rule_id: str,
    *,
    expected_version: int | None = None,
) -> None:
    require_admin(who)

    def remove(current: RuleSet) -> tuple[list[Rule], Rule | None]:
        if current.find(rule_id) is None:
            raise _no_rule(rule_id)
        return [r for r in current.rules if r.rule_id != rule_id], None

    _save(store, who.workspace_id, remove, expected_version=expected_version)


def reorder_rules(store: AutomationStore, who: Principal, command: ReorderRulesCommand) -> RuleSet:
    """The full ordered id list, conditional on the version it was decided on: 409 naming the
    current version when the rules changed since; 422 when the ids are not exactly the rules."""
    require_admin(who)
    current = store.get_rule_set(who.workspace_id, consistent=True)
    if current.version != command.version:
        raise _order_conflict(current.version)
    by_id = {r.rule_id: r for r in current.rules}
    given = command.rule_ids
    errors: list[dict[str, str]] = []
    if len(set(given)) != len(given):
        errors.append({"field": "rule_ids", "loc": "body.rule_ids", "msg": "ids repeat"})
    unknown = [i for i in dict.fromkeys(given) if i not in by_id]
    missing = [i for i in by_id if i not in given]
    if unknown:
        errors.append(
            {"field": "rule_ids", "loc": "body.rule_ids", "msg": f"unknown: {', '.join(unknown)}"}
        )
    if missing:
        errors.append(
            {"field": "rule_ids", "loc": "body.rule_ids", "msg": f"missing: {', '.join(missing)}"}
        )
    if errors:
        raise UnprocessableError("rule_ids must list every rule once", details={"errors": errors})
    new = RuleSet(
        workspace_id=who.workspace_id,
        version=current.version + 1,
        rules=[by_id[i] for i in given],
    )
    try:
        store.save_rule_set(new, seen_version=current.version)
    except RuleSetChangedError as exc:
        raise _order_conflict(exc.current_version) from exc
    except WriteConflictError as exc:  # another change of the rules at the same moment
        raise _order_conflict(current.version) from exc
    return new


def _order_conflict(version: int) -> ConflictError:
    return ConflictError(
        "the rules changed since this order was decided; reload and retry",
        details={"version": version},
    )
