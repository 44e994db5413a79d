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


class Principal(BaseModel):
    agent_id: str
    workspace_id: str


def principal_from_claims(claims: Mapping[str, Any] | None) -> Principal:
    if not claims or not claims.get("sub"):
        raise UnauthorizedError("missing or invalid credentials")
    workspace_id = claims.get(WORKSPACE_CLAIM)
    if not isinstance(workspace_id, str) or not WORKSPACE_ID.fullmatch(workspace_id):
        raise ForbiddenError("the token is not bound to a workspace")
    return Principal(agent_id=str(claims["sub"]), workspace_id=workspace_id)
