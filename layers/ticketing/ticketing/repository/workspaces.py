"""Workspace settings with a version (the agent API's ``/workspace/settings``) and the workspace
registry that scheduled jobs page through (README "Auto-close").

The settings live on the workspace item (``WS#<ws>`` / ``WORKSPACE``, read by every ingest) with
``settings_version``; an update is one TransactWriteItems: the item's SET, conditional on the
version the admin saw, and the registry entry (``WORKSPACES`` / ``WS#<ws>``), so a workspace whose
settings exist is always listed. Listing the registry is a Query in ``sk`` order, page by page.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ticketing.errors import StorageUnavailableError
from ticketing.models.records import WorkspaceSettings
from ticketing.repository import keys
from ticketing.repository.dynamodb import DynamoTicketRepository, from_dynamo, to_dynamo

VERSION_ATTRIBUTE = "settings_version"


@dataclass(frozen=True)
class VersionedSettings:
    settings: WorkspaceSettings
    version: int  # 0: never changed through the API


@dataclass(frozen=True)
class RegistryPage:
    workspace_ids: list[str]
    last_key: dict[str, Any] | None  # ExclusiveStartKey of the next page, None at the end


class SettingsVersionMismatchError(Exception):
    """The workspace settings are at another version than the caller's If-Match."""

    def __init__(self, current: VersionedSettings) -> None:
        super().__init__("settings version mismatch")
        self.current = current


def _versioned(workspace_id: str, item: Mapping[str, Any] | None) -> VersionedSettings:
    plain = dict(item or {})
    settings = WorkspaceSettings.model_validate({**plain, "workspace_id": workspace_id})
    return VersionedSettings(settings, int(plain.get(VERSION_ATTRIBUTE, 0)))


class WorkspaceStore:
    """Built from the ticket repository: same client, same table, same error handling."""

    def __init__(self, repo: DynamoTicketRepository) -> None:
        self._repo = repo
        self._table = repo.table_name

    # ------------------------------------------------------------------ settings
    def get_settings(self, workspace_id: str) -> VersionedSettings:
        """The workspace's settings (defaults when it has none yet) and their version."""
        response = self._repo._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.workspace_key(workspace_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _versioned(workspace_id, from_dynamo(item) if item else None)

    def update_settings(
        self, workspace_id: str, changes: Mapping[str, Any], *, expected_version: int | None
    ) -> VersionedSettings:
        """SET ``changes`` (None stored as null = off) and bump the version, conditional on
        ``expected_version`` when given; the registry entry is written in the same transaction.
        Raises SettingsVersionMismatchError with the stored settings when the version moved."""
        names = {f"#s{i}": name for i, name in enumerate(changes)} | {"#v": VERSION_ATTRIBUTE}
        values: dict[str, Any] = {f":s{i}": value for i, value in enumerate(changes.values())}
        values[":one"] = 1
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_dynamo(keys.workspace_key(workspace_id)),
            "UpdateExpression": "SET "
            + ", ".join(f"#s{i} = :s{i}" for i in range(len(changes)))
            + " ADD #v :one",
            "ExpressionAttributeNames": names,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if expected_version is not None:
            if expected_version == 0:
                update["ConditionExpression"] = "attribute_not_exists(#v)"
            else:
                update["ConditionExpression"] = "#v = :seen"
                values[":seen"] = expected_version
        update["ExpressionAttributeValues"] = to_dynamo(values)
        registration = to_dynamo(
            {
                **keys.workspace_registry_key(workspace_id),
                "type": "workspace_registration",
                "workspace_id": workspace_id,
            }
        )
        failed = self._repo._transact(
            [
                ("workspace", {"Update": update}),
                ("registry", {"Put": {"TableName": self._table, "Item": registration}}),
            ]
        )
        if failed.get("workspace") == "ConditionalCheckFailed":
            raise SettingsVersionMismatchError(
                _versioned(workspace_id, failed.get("workspace:item"))  # type: ignore[arg-type]
            )
        if failed:
            raise StorageUnavailableError(
                "the settings could not be written; retry", details={"reasons": failed}
            )
        return self.get_settings(workspace_id)

    # ------------------------------------------------------------------ registry
    def list_workspaces(
        self,
        *,
        limit: int,
        start_key: Mapping[str, Any] | None = None,
        from_id: str | None = None,
        before_id: str | None = None,
    ) -> RegistryPage:
        """A page of registered workspace ids in registry order, optionally from ``from_id``
        (inclusive) or before ``before_id`` (exclusive): one Query."""
        condition = "pk = :p"
        values: dict[str, Any] = {":p": keys.WORKSPACE_REGISTRY}
        if from_id is not None:
            condition += " AND sk >= :from"
            values[":from"] = keys.workspace_registry_key(from_id)[keys.SK]
        elif before_id is not None:
            condition += " AND sk < :before"
            values[":before"] = keys.workspace_registry_key(before_id)[keys.SK]
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_dynamo(values),
            "ProjectionExpression": "workspace_id",
            "Limit": limit,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = dict(start_key)
        response = self._repo._call("query", **kwargs)
        ids = [str(from_dynamo(i)["workspace_id"]) for i in response.get("Items", [])]
        return RegistryPage(ids, response.get("LastEvaluatedKey"))

    def get_settings_batch(self, workspace_ids: Sequence[str]) -> dict[str, WorkspaceSettings]:
        """Settings of up to 100 workspaces in one BatchGetItem (eventually consistent: a
        schedule does not need the last second's change). A workspace without an item has the
        defaults."""
        found: dict[str, WorkspaceSettings] = {
            ws: WorkspaceSettings(workspace_id=ws) for ws in workspace_ids
        }
        if not workspace_ids:
            return found
        request: dict[str, Any] = {
            self._table: {"Keys": [to_dynamo(keys.workspace_key(ws)) for ws in workspace_ids]}
        }
        prefix_len = len(keys.ws(""))
        for attempt in range(5):
            response = self._repo._call("batch_get_item", RequestItems=request)
            for raw in response.get("Responses", {}).get(self._table, []):
                item = from_dynamo(raw)
                workspace_id = str(item[keys.PK])[prefix_len:]
                found[workspace_id] = _versioned(workspace_id, item).settings
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(0.05 * 2**attempt)
        raise StorageUnavailableError("the ticket store did not answer a read")
