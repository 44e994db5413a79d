"""``/workspace/settings`` routes of the agent API (included by app.py): the reopen window and
the auto-close threshold. Any agent reads them; workspace admins change them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ticketing.auth import Principal, principal_from_claims
from ticketing.http import responses
from ticketing.models.responses import ErrorResponse
from ticketing.models.workspace import UpdateWorkspaceSettingsCommand, WorkspaceSettingsResponse
from ticketing.repository.dynamodb import get_repository
from ticketing.repository.workspaces import WorkspaceStore
from ticketing.services import workspace_settings
from ticketing.services.tickets import parse_if_match

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools: untyped __init__


def _caller() -> Principal:
    return principal_from_claims(router.current_event.request_context.authorizer.claims)


@router.get("/workspace/settings", responses=responses())
def get_workspace_settings() -> WorkspaceSettingsResponse:
    """The workspace's settings and their ``version`` (any agent)."""
    found = workspace_settings.get_settings(WorkspaceStore(get_repository()), _caller())
    return WorkspaceSettingsResponse.of(found.settings, found.version)


@router.patch(
    "/workspace/settings",
    responses={
        **responses(),
        412: {
            "description": "If-Match names a version the settings have moved past",
            "content": {"application/json": {"model": ErrorResponse}},
        },
    },
)
def update_workspace_settings(
    command: Annotated[UpdateWorkspaceSettingsCommand, Body()],
) -> WorkspaceSettingsResponse:
    """Change settings (workspace admins): a key left out keeps its value, null switches it off.
    ``If-Match: <version>`` makes the change conditional (412 when another admin changed them)."""
    expected = parse_if_match(router.current_event.headers.get("If-Match"))
    updated = workspace_settings.update_settings(
        WorkspaceStore(get_repository()), _caller(), command, expected_version=expected
    )
    return WorkspaceSettingsResponse.of(updated.settings, updated.version)
