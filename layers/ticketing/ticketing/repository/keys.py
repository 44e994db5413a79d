"""Every key format of the single table, in one place (README: "DynamoDB design").

Main table: pk/sk. gsi1: messages of a ticket in channel-time order; connections of a workspace.
gsi2: tickets of a workspace by status, newest activity first. Every workspace-owned key starts with
``WS#<workspace_id>#`` so no read or write can address another workspace's records.
"""

from __future__ import annotations

from datetime import datetime

from ticketing.clock import to_ms
from ticketing.models.records import Channel, TicketStatus

PK = "pk"
SK = "sk"
GSI1 = "gsi1"
GSI2 = "gsi2"
TTL_ATTRIBUTE = "expires_at"
INDEX_KEYS = {GSI1: ("gsi1pk", "gsi1sk"), GSI2: ("gsi2pk", "gsi2sk")}


def _ms(value: datetime) -> str:
    return f"{to_ms(value):013d}"


def ws(workspace_id: str) -> str:
    return f"WS#{workspace_id}"


def workspace_key(workspace_id: str) -> dict[str, str]:
    return {PK: ws(workspace_id), SK: "WORKSPACE"}


def connection_key(channel: Channel | str, account_id: str) -> dict[str, str]:
    return {PK: f"CONN#{channel}#{account_id}", SK: "CONNECTION"}


def connections_partition(workspace_id: str) -> str:
    return f"{ws(workspace_id)}#CONNECTIONS"


def connection_index(workspace_id: str, channel: Channel | str, account_id: str) -> dict[str, str]:
    return {"gsi1pk": connections_partition(workspace_id), "gsi1sk": f"{channel}#{account_id}"}


def contact_key(workspace_id: str, contact_id: str) -> dict[str, str]:
    return {PK: f"{ws(workspace_id)}#CONTACT#{contact_id}", SK: "CONTACT"}


def identity_key(
    workspace_id: str, channel: Channel | str, account_id: str, customer_id: str
) -> dict[str, str]:
    return {
        PK: f"{ws(workspace_id)}#IDENTITY#{channel}#{account_id}#{customer_id}",
        SK: "IDENTITY",
    }


def conversation_key(workspace_id: str, conversation_id: str) -> dict[str, str]:
    return {PK: f"{ws(workspace_id)}#CONV#{conversation_id}", SK: "CONVERSATION"}


def ticket_key(workspace_id: str, ticket_id: str) -> dict[str, str]:
    return {PK: f"{ws(workspace_id)}#TICKET#{ticket_id}", SK: "TICKET"}


def ticket_status_partition(workspace_id: str, status: TicketStatus) -> str:
    return f"{ws(workspace_id)}#STATUS#{TicketStatus(status).value}"


def ticket_activity_sort(ticket_id: str, last_activity_at: datetime) -> str:
    return f"{_ms(last_activity_at)}#{ticket_id}"


def ticket_index(
    workspace_id: str, ticket_id: str, status: TicketStatus, last_activity_at: datetime
) -> dict[str, str]:
    return {
        "gsi2pk": ticket_status_partition(workspace_id, status),
        "gsi2sk": ticket_activity_sort(ticket_id, last_activity_at),
    }


def history_key(workspace_id: str, ticket_id: str, at: datetime, event_id: str) -> dict[str, str]:
    return {PK: ticket_key(workspace_id, ticket_id)[PK], SK: f"HIST#{_ms(at)}#{event_id}"}


def message_key(
    workspace_id: str, channel: Channel | str, account_id: str, channel_message_id: str
) -> dict[str, str]:
    """Messages are keyed by the channel's own id: the put that stores one is also its dedupe."""
    return {PK: f"{ws(workspace_id)}#MSG#{channel}#{account_id}#{channel_message_id}", SK: "MSG"}


def ticket_messages_partition(workspace_id: str, ticket_id: str) -> str:
    return f"{ws(workspace_id)}#TICKET#{ticket_id}#MSGS"


def message_index(
    workspace_id: str, ticket_id: str, sent_at: datetime, message_id: str
) -> dict[str, str]:
    return {
        "gsi1pk": ticket_messages_partition(workspace_id, ticket_id),
        "gsi1sk": f"{_ms(sent_at)}#{message_id}",
    }


REJECTED_TTL_DAYS = 14


def rejected_key(channel: str, received_at: datetime, request_id: str) -> dict[str, str]:
    """Refused webhook bodies, one partition per channel and day (they expire after 14 days)."""
    return {
        PK: f"REJECTED#{channel}#{received_at:%Y-%m-%d}",
        SK: f"{_ms(received_at)}#{request_id}",
    }
