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


NOTE_PREFIX = "NOTE#"


def note_key(workspace_id: str, ticket_id: str, at: datetime, note_id: str) -> dict[str, str]:
    """Internal notes live in the ticket's partition (never in its messages' index)."""
    return {PK: ticket_key(workspace_id, ticket_id)[PK], SK: f"{NOTE_PREFIX}{_ms(at)}#{note_id}"}


FIELD_PREFIX = "FIELD#"


def ticket_fields_partition(workspace_id: str) -> str:
    return f"{ws(workspace_id)}#FIELDS"


def ticket_field_key(workspace_id: str, key: str) -> dict[str, str]:
    """A workspace's ticket field definitions: one partition, listed by one Query."""
    return {PK: ticket_fields_partition(workspace_id), SK: f"{FIELD_PREFIX}{key}"}


OUTBOX_TTL_DAYS = 7


def outbox_partition(workspace_id: str) -> str:
    """A workspace's pending outbox events (one partition per workspace: replies are written at
    agent speed, far below a partition's limits; the stream, not a query, delivers them)."""
    return f"{ws(workspace_id)}#OUTBOX"


def outbox_key(workspace_id: str, created_at: datetime, event_id: str) -> dict[str, str]:
    return {PK: outbox_partition(workspace_id), SK: f"{_ms(created_at)}#{event_id}"}


# Agents and teams: the workspace directory. Small partitions listed by one Query each (no index,
# so no index writes); a team's members live in the team's own partition.
AGENT_PREFIX = "AGENT#"
TEAM_PREFIX = "TEAM#"
MEMBER_PREFIX = "MEMBER#"


def agents_partition(workspace_id: str) -> str:
    return f"{ws(workspace_id)}#AGENTS"


def agent_key(workspace_id: str, agent_id: str) -> dict[str, str]:
    return {PK: agents_partition(workspace_id), SK: f"{AGENT_PREFIX}{agent_id}"}


def teams_partition(workspace_id: str) -> str:
    return f"{ws(workspace_id)}#TEAMS"


def team_key(workspace_id: str, team_id: str) -> dict[str, str]:
    return {PK: teams_partition(workspace_id), SK: f"{TEAM_PREFIX}{team_id}"}


def team_members_partition(workspace_id: str, team_id: str) -> str:
    return f"{ws(workspace_id)}#TEAM#{team_id}"


def team_member_key(workspace_id: str, team_id: str, agent_id: str) -> dict[str, str]:
    return {PK: team_members_partition(workspace_id, team_id), SK: f"{MEMBER_PREFIX}{agent_id}"}


# The contact view: immutable link items in the contact's partition, written in the transaction
# that creates the conversation / ticket. (Index attributes on the conversation and ticket items
# would also work, but gsi1 projects ALL: every later update of those items — each message
# appended to a ticket — would then pay an index write too.)
CONTACT_CONV_PREFIX = "CONV#"
CONTACT_TICKET_PREFIX = "TICKET#"


def contact_conversation_key(
    workspace_id: str,
    contact_id: str,
    channel: Channel | str,
    account_id: str,
    conversation_id: str,
) -> dict[str, str]:
    return {
        PK: contact_key(workspace_id, contact_id)[PK],
        SK: f"{CONTACT_CONV_PREFIX}{channel}#{account_id}#{conversation_id}",
    }


def contact_ticket_key(
    workspace_id: str, contact_id: str, created_at: datetime, ticket_id: str
) -> dict[str, str]:
    """Sorted by creation time: a descending Query lists a contact's tickets newest first."""
    return {
        PK: contact_key(workspace_id, contact_id)[PK],
        SK: f"{CONTACT_TICKET_PREFIX}{_ms(created_at)}#{ticket_id}",
    }
