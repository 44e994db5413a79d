"""Channel connections: which workspace a channel account belongs to, and its secret's reference.

Workspace admins only. Secrets are never handled here: a connection names where its secret lives
(SSM / Secrets Manager / the local file) and the webhook path reads it through Powertools
Parameters. A warm webhook container caches a connection for CONNECTION_CACHE_SECONDS, so a
disconnect takes effect within that time.
"""

from __future__ import annotations

from typing import Any

from ticketing.auth import Principal, require_admin
from ticketing.errors import ConflictError, InvalidRequestError, NotFoundError
from ticketing.models.connections import ConnectChannelCommand, UpdateConnectionCommand
from ticketing.models.records import Channel, ChannelConnection, ConnectionStatus
from ticketing.repository.base import ConnectionOwnedElsewhereError, Page, TicketRepository


def _not_found(channel: Channel, account_id: str) -> NotFoundError:
    return NotFoundError(
        "channel connection not found", details={"channel": channel, "account_id": account_id}
    )


def connect(
    repo: TicketRepository, who: Principal, cmd: ConnectChannelCommand
) -> ChannelConnection:
    require_admin(who)
    connection = ChannelConnection(
        channel=cmd.channel,
        account_id=cmd.account_id,
        workspace_id=who.workspace_id,
        display_name=cmd.display_name,
        secret_ref=cmd.secret_ref,
        options=cmd.options,
        status=ConnectionStatus.ACTIVE,
    )
    try:
        repo.connect_channel(connection)
    except ConnectionOwnedElsewhereError as exc:
        # say nothing about the other workspace
        raise ConflictError(
            "this channel account is connected to another workspace",
            details={"channel": cmd.channel, "account_id": cmd.account_id},
        ) from exc
    return connection


def list_connections(
    repo: TicketRepository, who: Principal, *, limit: int, cursor: str | None
) -> Page[ChannelConnection]:
    require_admin(who)
    return repo.list_connections(who.workspace_id, limit, cursor)


def get_connection(
    repo: TicketRepository, who: Principal, channel: Channel, account_id: str
) -> ChannelConnection:
    require_admin(who)
    connection = repo.get_connection(channel, account_id)
    if connection is None or connection.workspace_id != who.workspace_id:
        raise _not_found(channel, account_id)
    return connection


def update_connection(
    repo: TicketRepository,
    who: Principal,
    channel: Channel,
    account_id: str,
    cmd: UpdateConnectionCommand,
) -> ChannelConnection:
    require_admin(who)
    changes: dict[str, Any] = cmd.model_dump(mode="json", exclude_none=True)
    if not changes:
        raise InvalidRequestError("nothing to update")
    updated = repo.update_connection(who.workspace_id, channel, account_id, changes)
    if updated is None:
        raise _not_found(channel, account_id)
    return updated


def disconnect(
    repo: TicketRepository, who: Principal, channel: Channel, account_id: str
) -> ChannelConnection:
    """Kept, not deleted: its webhooks are then answered 200 and stored nowhere."""
    return update_connection(
        repo,
        who,
        channel,
        account_id,
        UpdateConnectionCommand(status=ConnectionStatus.DISCONNECTED),
    )
