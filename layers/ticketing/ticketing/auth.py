"""Who is calling the agent API: API Gateway's Cognito authorizer context is the only source."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ticketing.errors import ForbiddenError, UnauthorizedError

WORKSPACE_CLAIM = "custom:workspace_id"
# Workspace ids are key prefixes (WS#<id>#…): no "#", so one can never overlap another's keys.
WORKSPACE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


ADMIN_GROUP = "admin"


class Principal(BaseModel):
    agent_id: str
    workspace_id: str
    groups: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups


def _groups(value: Any) -> frozenset[str]:
    """``cognito:groups`` reaches a REST API authorizer context as a string ("admin" or
    "[admin, agents]") and other integrations as a list: accept both."""
    if isinstance(value, (list, tuple)):
        return frozenset(str(v) for v in value)
    if isinstance(value, str):
        return frozenset(g for g in re.split(r"[\s,\[\]\"]+", value) if g)
    return frozenset()


def require_admin(principal: Principal) -> Principal:
    if not principal.is_admin:
        raise ForbiddenError("workspace admins only", details={"required_group": ADMIN_GROUP})
    return principal


def principal_from_claims(claims: Mapping[str, Any] | None) -> Principal:
    if not claims or not claims.get("sub"):
        raise UnauthorizedError("missing or invalid credentials")
    workspace_id = claims.get(WORKSPACE_CLAIM)
    if not isinstance(workspace_id, str) or not WORKSPACE_ID.fullmatch(workspace_id):
        raise ForbiddenError("the token is not bound to a workspace")
    return Principal(
        agent_id=str(claims["sub"]),
        workspace_id=workspace_id,
        groups=_groups(claims.get("cognito:groups")),
    )
