"""Workspace settings for the agent API: any agent reads them, admins change them."""

from __future__ import annotations

from ticketing.auth import Principal, require_admin
from ticketing.errors import PreconditionFailedError
from ticketing.models.workspace import UpdateWorkspaceSettingsCommand
from ticketing.repository.workspaces import (
    SettingsVersionMismatchError,
    VersionedSettings,
    WorkspaceStore,
)


def get_settings(store: WorkspaceStore, who: Principal) -> VersionedSettings:
    return store.get_settings(who.workspace_id)


def update_settings(
    store: WorkspaceStore,
    who: Principal,
    command: UpdateWorkspaceSettingsCommand,
    *,
    expected_version: int | None,
) -> VersionedSettings:
    """Admins only. Only the keys the command gives change (one conditional write); with
    ``expected_version`` (If-Match) a concurrent change by another admin is a 412, never
    silently overwritten."""
    require_admin(who)
    try:
        return store.update_settings(
            who.workspace_id, command.changes(), expected_version=expected_version
        )
    except SettingsVersionMismatchError as exc:
        raise PreconditionFailedError(
            "the workspace settings changed since you loaded them",
            details={"version": exc.current.version},
        ) from exc
