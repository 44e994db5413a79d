"""Storage of assignment automation (README "Assignment automation").

- The rule set is one item (``keys.automation_rules_key``) holding the ordered rules and a
  version. Every change is one TransactWriteItems: the Put guarded by the version the writer read,
  and the workspace item's ``automation_version`` set to the new one. The workspace item is read
  on every incoming message anyway (``load_routing_context``), so ingest knows for free whether
  the workspace has rules (version 0: none, nothing more is read) and whether a warm container's
  copy is current.
- Round-robin turns: ``ADD rr_turn :one`` on the team's counter item (``ReturnValues=UPDATED_NEW``):
  each concurrent creation gets its own turn number, never a read-then-write.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from ticketing.errors import StorageUnavailableError
from ticketing.models.automation import RuleSet
from ticketing.models.people import AgentStatus
from ticketing.models.records import Contact
from ticketing.repository import keys
from ticketing.repository.base import GuardFailedError, TicketRepository
from ticketing.repository.dynamodb import DynamoTicketRepository, from_dynamo, to_dynamo


class RuleSetChangedError(GuardFailedError):
    """The rule set moved past the version the writer read."""

    def __init__(self, current_version: int) -> None:
        super().__init__(current_version)
        self.current_version = current_version


class AutomationStore(Protocol):
    def get_rule_set(self, workspace_id: str, *, consistent: bool) -> RuleSet: ...
    def save_rule_set(self, rule_set: RuleSet, *, seen_version: int) -> None: ...
    def next_turn(self, workspace_id: str, team_id: str) -> int: ...
    def available_members(self, workspace_id: str, team_id: str) -> list[str]: ...
    def get_contact(self, workspace_id: str, contact_id: str) -> Contact | None: ...


class DynamoAutomationStore:
    def __init__(self, repo: DynamoTicketRepository) -> None:
        self._repo = repo
        self._table = repo.table_name

    def get_rule_set(self, workspace_id: str, *, consistent: bool) -> RuleSet:
        response = self._repo._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.automation_rules_key(workspace_id)),
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        if not item:
            return RuleSet(workspace_id=workspace_id)
        return RuleSet.model_validate(from_dynamo(item))

    def save_rule_set(self, rule_set: RuleSet, *, seen_version: int) -> None:
        """Write ``rule_set`` (its version = seen + 1) if the stored one is still at
        ``seen_version``; RuleSetChangedError with the stored version otherwise."""
        ws = rule_set.workspace_id
        item = to_dynamo(
            {
                **keys.automation_rules_key(ws),
                "type": "automation_rules",
                **rule_set.model_dump(mode="json", exclude_none=True),
            }
        )
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": item,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if seen_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :seen"
            put["ExpressionAttributeValues"] = to_dynamo({":seen": seen_version})
        workspace = {
            "Update": {
                "TableName": self._table,
                "Key": to_dynamo(keys.workspace_key(ws)),
                "UpdateExpression": "SET automation_version = :v",
                "ExpressionAttributeValues": to_dynamo({":v": rule_set.version}),
            }
        }
        failed = self._repo._transact([("rules", {"Put": put}), ("workspace", workspace)])
        if failed.get("rules") == "ConditionalCheckFailed":
            old: Any = failed.get("rules:item") or {}
            raise RuleSetChangedError(int(old.get("version", 0)))
        self._repo._raise_for(failed)

    def next_turn(self, workspace_id: str, team_id: str) -> int:
        """The team's next round-robin turn (1, 2, …): one atomic ADD on the team's counter item
        (its own item: never part of a transaction, so never in a transaction conflict)."""
        response = self._repo._call(
            "update_item",
            TableName=self._table,
            Key=to_dynamo(keys.round_robin_key(workspace_id, team_id)),
            UpdateExpression="SET #type = :type, team_id = :team ADD rr_turn :one",
            ExpressionAttributeNames={"#type": "type"},
            ExpressionAttributeValues=to_dynamo(
                {":one": 1, ":type": "round_robin", ":team": team_id}
            ),
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["rr_turn"]["N"])

    def available_members(self, workspace_id: str, team_id: str) -> list[str]:
        """Ids of the team's members whose status is available: one Query of the memberships,
        one BatchGetItem of their agents."""
        members = self._repo.list_team_members(workspace_id, team_id)
        if not members:
            return []
        wanted = [keys.agent_key(workspace_id, m.agent_id) for m in members]
        found = self._batch_get(wanted)
        return sorted(
            str(item["agent_id"])
            for item in found
            if item.get("status", AgentStatus.AVAILABLE.value) == AgentStatus.AVAILABLE.value
        )

    def get_contact(self, workspace_id: str, contact_id: str) -> Contact | None:
        return self._repo.get_contact(workspace_id, contact_id)

    def _batch_get(self, item_keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Items that share a partition (unlike the repository's by-pk helper), eventually
        consistent, unprocessed keys retried."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(item_keys), 100):
            request: dict[str, Any] = {
                self._table: {"Keys": [to_dynamo(k) for k in item_keys[start : start + 100]]}
            }
            for attempt in range(5):
                response = self._repo._call("batch_get_item", RequestItems=request)
                found.extend(
                    from_dynamo(i) for i in response.get("Responses", {}).get(self._table, [])
                )
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.02 * 2**attempt)
            else:
                raise StorageUnavailableError("the ticket store did not answer a read")
        return found


def automation_store(repo: TicketRepository) -> AutomationStore | None:
    """The automation storage next to a ticket repository (None for other implementations)."""
    if isinstance(repo, DynamoTicketRepository):
        return DynamoAutomationStore(repo)
    return None
