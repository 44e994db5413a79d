"""Channel connections, for workspace admins (Cognito group "admin"). Thin, like every handler.

Imported by ``app.py`` on the first invocation (or the first read of ``app.app``), not at its
import: the validating resolver, the pydantic models and the services are the first request's
cost (cold start, bench/README.md section 4).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from ticketing.http import caller, responses, rest_resolver
from ticketing.models.connections import (
    ConnectChannelCommand,
    ConnectionListResponse,
    ConnectionResponse,
    UpdateConnectionCommand,
)
from ticketing.models.records import Channel
from ticketing.repository.dynamodb import get_repository
from ticketing.services import connections

app = rest_resolver()

AccountId = Annotated[str, Path(min_length=1, max_length=128)]


@app.get("/connections", responses=responses())
def list_connections(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ConnectionListResponse:
    who = caller(app)
    page = connections.list_connections(get_repository(), who, limit=limit, cursor=cursor)
    return ConnectionListResponse(
        items=[ConnectionResponse.of(c) for c in page.items], next_cursor=page.next_cursor
    )


@app.post("/connections", responses=responses(201, "Connected"))
def create_connection(
    command: Annotated[ConnectChannelCommand, Body()],
) -> tuple[ConnectionResponse, int]:
    who = caller(app)
    connection = connections.connect(get_repository(), who, command)
    return ConnectionResponse.of(connection), 201


@app.get("/connections/<channel>/<account_id>", responses=responses())
def get_connection(
    channel: Annotated[Channel, Path()], account_id: AccountId
) -> ConnectionResponse:
    who = caller(app)
    found = connections.get_connection(get_repository(), who, channel, account_id)
    return ConnectionResponse.of(found)


@app.patch("/connections/<channel>/<account_id>", responses=responses())
def update_connection(
    channel: Annotated[Channel, Path()],
    account_id: AccountId,
    command: Annotated[UpdateConnectionCommand, Body()],
) -> ConnectionResponse:
    who = caller(app)
    updated = connections.update_connection(get_repository(), who, channel, account_id, command)
    return ConnectionResponse.of(updated)


@app.delete("/connections/<channel>/<account_id>", responses=responses())
def delete_connection(
    channel: Annotated[Channel, Path()], account_id: AccountId
) -> ConnectionResponse:
    """Disconnect: the record stays (status "disconnected"); its webhooks are acknowledged and
    nothing is stored."""
    who = caller(app)
    return ConnectionResponse.of(connections.disconnect(get_repository(), who, channel, account_id))
