"""Local stand-in for the API's Cognito authorizer: HS256 tokens signed with a known dev secret.

Tokens carry the claims the deployed user pool puts in its ID tokens and the API relies on
(``sub`` = agent id, ``custom:workspace_id``). They are for the local stack only.

    python -m local.auth --agent agent-demo --workspace ws-demo   # prints a token
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

# Public on purpose: it only signs tokens for the local stack. SECRET_ENV overrides it.
LOCAL_JWT_SECRET = "ticket-engine-local-dev-secret"  # noqa: S105
SECRET_ENV = "TICKET_ENGINE_JWT_SECRET"  # noqa: S105 - the name of a variable
ISSUER = "ticket-engine-local"
ALGORITHM = "HS256"


def jwt_secret() -> str:
    return os.environ.get(SECRET_ENV, LOCAL_JWT_SECRET)


def mint_token(
    agent_id: str = "agent-demo",
    workspace_id: str = "ws-demo",
    hours: float = 12,
    groups: tuple[str, ...] = ("admin",),
) -> str:
    """A token like Cognito's; the demo agent is a workspace admin (group "admin")."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": agent_id,
        "custom:workspace_id": workspace_id,
        "iat": now,
        "exp": now + timedelta(hours=hours),
        "iss": ISSUER,
    }
    if groups:
        claims["cognito:groups"] = list(groups)
    return jwt.encode(claims, jwt_secret(), algorithm=ALGORITHM)


def verify(token: str) -> dict[str, Any]:
    """The token's claims; jwt.InvalidTokenError if its signature, issuer or expiry is wrong."""
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt_secret(),
        algorithms=[ALGORITHM],
        issuer=ISSUER,
        options={"require": ["sub", "iat", "exp"]},
    )
    return claims


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local.auth", description="Print a local API token."
    )
    parser.add_argument("--agent", default="agent-demo", help="agent id (the token's sub)")
    parser.add_argument("--workspace", default="ws-demo", help="workspace id (custom:workspace_id)")
    parser.add_argument("--hours", type=float, default=12, help="validity in hours")
    parser.add_argument(
        "--groups", default="admin", help='comma-separated Cognito groups ("" for none)'
    )
    args = parser.parse_args(argv)
    groups = tuple(g for g in args.groups.split(",") if g)
    print(mint_token(args.agent, args.workspace, args.hours, groups))


if __name__ == "__main__":
    main()
