"""GET / PATCH /workspace/settings through the ticket API on DynamoDB Local: the reopen window
and the auto-close threshold; any agent reads, admins change (403 otherwise), 422 naming the
field, If-Match → 412 instead of a silent overwrite, and no workspace sees another's settings."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from functions.ticket_api.app import lambda_handler as api
from local import demo
from tests.helpers import FakeLambdaContext, unique
from ticketing.auth import Principal
from ticketing.errors import PreconditionFailedError
from ticketing.models.records import (
    DEFAULT_AUTO_CLOSE_AFTER_SECONDS,
    DEFAULT_REOPEN_WINDOW_SECONDS,
)
from ticketing.models.workspace import UpdateWorkspaceSettingsCommand
from ticketing.repository import keys
from ticketing.repository.workspaces import WorkspaceStore
from ticketing.services import workspace_settings

pytestmark = pytest.mark.integration

PATH = "/workspace/settings"


def call(
    method: str,
    claims: dict[str, str] | None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    event = demo.api_event(
        method,
        PATH,
        PATH,
        body=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
        claims=claims,
    )
    response = api(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def admin(accounts: Any, agent_id: str = "admin-1") -> dict[str, str]:
    return {**accounts.claims(agent_id), "cognito:groups": "admin"}


def error_fields(body: dict[str, Any]) -> set[str]:
    return {e["loc"].rsplit(".", 1)[-1] for e in body["error"]["details"]["errors"]}


def registered(ddb_client: Any, table_name: str, workspace_id: str) -> bool:
    key = {k: {"S": v} for k, v in keys.workspace_registry_key(workspace_id).items()}
    return "Item" in ddb_client.get_item(TableName=table_name, Key=key, ConsistentRead=True)


# ---------------------------------------------------------------------------- reads
def test_any_agent_reads_the_defaults(accounts):
    # GIVEN a workspace whose settings were never changed through the API
    # WHEN a plain agent reads them
    status, body = call("GET", accounts.claims())
    # THEN the defaults, at version 0
    assert status == 200
    assert body == {
        "workspace_id": accounts.workspace_id,
        "reopen_window_seconds": DEFAULT_REOPEN_WINDOW_SECONDS,
        "auto_close_after_seconds": DEFAULT_AUTO_CLOSE_AFTER_SECONDS,
        "version": 0,
    }


def test_without_credentials_is_401(accounts):
    # GIVEN no authorizer claims
    # WHEN the settings are read
    status, body = call("GET", None)
    # THEN 401
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


# ---------------------------------------------------------------------------- updates
def test_admin_changes_only_the_given_keys_and_ingest_sees_them(
    accounts, repo, ddb_client, table_name
):
    # GIVEN a workspace at the defaults
    # WHEN an admin sets the auto-close threshold to one hour
    status, body = call("PATCH", admin(accounts), {"auto_close_after_seconds": 3600})
    # THEN it is stored (the reopen window kept), the version moved, the registry lists it
    assert status == 200, body
    assert body["auto_close_after_seconds"] == 3600
    assert body["reopen_window_seconds"] == DEFAULT_REOPEN_WINDOW_SECONDS
    assert body["version"] == 1
    stored = repo.get_workspace(accounts.workspace_id)
    assert stored.auto_close_after_seconds == 3600
    assert stored.reopen_window_seconds == DEFAULT_REOPEN_WINDOW_SECONDS
    assert stored.name == "Test shop"  # the rest of the workspace item is untouched
    assert registered(ddb_client, table_name, accounts.workspace_id)
    # ... and a plain agent reads the new values
    assert call("GET", accounts.claims())[1] == body


@pytest.mark.parametrize(
    ("change", "field", "stored"),
    [
        ({"auto_close_after_seconds": None}, "auto_close_after_seconds", None),
        ({"auto_close_after_seconds": 0}, "auto_close_after_seconds", None),
        ({"reopen_window_seconds": None}, "reopen_window_seconds", None),
        ({"reopen_window_seconds": 60}, "reopen_window_seconds", 60),
    ],
)
def test_null_or_zero_switches_off(accounts, repo, change, field, stored):
    # GIVEN a workspace at the defaults
    # WHEN an admin sends the change
    status, body = call("PATCH", admin(accounts), change)
    # THEN the setting is stored as given (null = off, not "absent = default")
    assert status == 200, body
    assert body[field] == stored
    assert getattr(repo.get_workspace(accounts.workspace_id), field) == stored


def test_non_admin_gets_403_and_nothing_changes(accounts, repo):
    # GIVEN a plain agent (no admin group)
    # WHEN they try to switch auto-close off
    status, body = call("PATCH", accounts.claims(), {"auto_close_after_seconds": None})
    # THEN 403, and the setting is unchanged
    assert status == 403
    assert body["error"]["details"] == {"required_group": "admin"}
    stored = repo.get_workspace(accounts.workspace_id)
    assert stored.auto_close_after_seconds == DEFAULT_AUTO_CLOSE_AFTER_SECONDS


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"reopen_window_seconds": 59}, {"reopen_window_seconds"}),
        ({"reopen_window_seconds": 7 * 24 * 3600 + 1}, {"reopen_window_seconds"}),
        ({"auto_close_after_seconds": 899}, {"auto_close_after_seconds"}),
        ({"auto_close_after_seconds": 31 * 24 * 3600}, {"auto_close_after_seconds"}),
        ({"auto_close_after_seconds": -5}, {"auto_close_after_seconds"}),
        ({"auto_close_after_seconds": "soon"}, {"auto_close_after_seconds"}),
        (
            {"reopen_window_seconds": 1, "auto_close_after_seconds": 1},
            {"reopen_window_seconds", "auto_close_after_seconds"},
        ),
        ({"colour": "blue"}, {"colour"}),
        ({}, {"body"}),
    ],
)
def test_invalid_values_are_422_naming_the_field(accounts, repo, body, fields):
    # GIVEN an admin
    # WHEN they send an invalid change
    status, answer = call("PATCH", admin(accounts), body)
    # THEN 422 validation_error naming each bad field, and nothing is stored
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_error"
    assert error_fields(answer) == fields
    stored = repo.get_workspace(accounts.workspace_id)
    assert stored.auto_close_after_seconds == DEFAULT_AUTO_CLOSE_AFTER_SECONDS
    assert stored.reopen_window_seconds == DEFAULT_REOPEN_WINDOW_SECONDS


def test_if_match_refuses_an_outdated_version_with_412(accounts, repo):
    # GIVEN two admins who loaded the settings at version 0, and the first one saved a change
    first = call(
        "PATCH", admin(accounts, "admin-a"), {"auto_close_after_seconds": 7200}, {"If-Match": "0"}
    )
    assert first[0] == 200
    assert first[1]["version"] == 1
    # WHEN the second saves their own change with the version they saw
    status, body = call(
        "PATCH", admin(accounts, "admin-b"), {"auto_close_after_seconds": 86400}, {"If-Match": "0"}
    )
    # THEN 412 naming the current version; the first admin's value stands
    assert status == 412
    assert body["error"]["code"] == "version_mismatch"
    assert body["error"]["details"] == {"version": 1}
    assert repo.get_workspace(accounts.workspace_id).auto_close_after_seconds == 7200
    # ... and with the current version it goes through
    status, body = call(
        "PATCH",
        admin(accounts, "admin-b"),
        {"auto_close_after_seconds": 86400},
        {"If-Match": '"1"'},
    )
    assert status == 200
    assert body["version"] == 2
    assert body["auto_close_after_seconds"] == 86400


def test_concurrent_admins_with_the_same_version_one_wins(accounts, repo):
    # GIVEN eight admins who all saw version 0 (services from threads: the resolver is not
    # thread-safe)
    store = WorkspaceStore(repo)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def save(seconds: int) -> None:
        who = Principal(
            agent_id=f"admin-{seconds}",
            workspace_id=accounts.workspace_id,
            groups=frozenset({"admin"}),
        )
        command = UpdateWorkspaceSettingsCommand(auto_close_after_seconds=seconds)
        barrier.wait()
        try:
            workspace_settings.update_settings(store, who, command, expected_version=0)
        except PreconditionFailedError:
            outcomes.append("412")
        else:
            outcomes.append(str(seconds))

    # WHEN they all save at once
    threads = [threading.Thread(target=save, args=(3600 * (i + 1),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN exactly one change is stored, at version 1; the seven others were refused
    winners = [o for o in outcomes if o != "412"]
    assert len(winners) == 1
    assert outcomes.count("412") == 7
    current = store.get_settings(accounts.workspace_id)
    assert current.version == 1
    assert current.settings.auto_close_after_seconds == int(winners[0])


def test_workspaces_never_see_each_others_settings(accounts, repo):
    # GIVEN an admin of another workspace
    other = {"sub": "admin-x", "custom:workspace_id": unique("ws-x-"), "cognito:groups": "admin"}
    # WHEN they switch auto-close off and read the settings
    status, body = call("PATCH", other, {"auto_close_after_seconds": None})
    assert status == 200
    assert body["workspace_id"] == other["custom:workspace_id"]
    # THEN only their workspace changed; this workspace's agents still read their own defaults
    mine = call("GET", accounts.claims())[1]
    assert mine["workspace_id"] == accounts.workspace_id
    assert mine["auto_close_after_seconds"] == DEFAULT_AUTO_CLOSE_AFTER_SECONDS
    assert mine["version"] == 0
    assert repo.get_workspace(accounts.workspace_id).auto_close_after_seconds == (
        DEFAULT_AUTO_CLOSE_AFTER_SECONDS
    )
    assert call("GET", other)[1]["auto_close_after_seconds"] is None
