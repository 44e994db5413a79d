"""Every key format of the single table, in one place (README: "DynamoDB design").

Main table: pk/sk. gsi1: messages of a ticket in channel-time order; connections of a workspace.
gsi2: comments and reviews by status. Tickets have no index keys of their own: every inbox list
(status lists included) is a gsi1 partition of view entries (``view_partition``), kept by the
view projector from the table's stream. Every workspace-owned key starts with
``WS#<workspace_id>#`` so no read or write can address another workspace's records.
"""

from __future__ import annotations

from datetime import datetime

from ticketing.clock import to_ms
from ticketing.models.records import Channel

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


def ticket_activity_sort(ticket_id: str, last_activity_at: datetime) -> str:
    """A ticket's position in its inbox views (view entries' gsi1 sort key): by activity."""
    return f"{_ms(last_activity_at)}#{ticket_id}"


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


VIEW_PREFIX = "VIEW#"
VIEW_TOMBSTONE_TTL_DAYS = 2  # > the stream's 24 h retention: no stale record outlives its guard


def view_entry_key(workspace_id: str, ticket_id: str, view: str) -> dict[str, str]:
    """A ticket's entry in one inbox view (``ticketing.views``), kept in the ticket's partition."""
    return {PK: ticket_key(workspace_id, ticket_id)[PK], SK: f"{VIEW_PREFIX}{view}"}


def view_partition(workspace_id: str, view: str) -> str:
    """gsi1 partition of an inbox view (e.g. ``open#AGENT#a1``), newest activity first."""
    return f"{ws(workspace_id)}#VIEW#{view}"


# Comments and conversions (issue 5, comments). A converted source (comment, review) is linked from
# its ticket by an immutable item in the ticket's partition; comments live in their own items,
# listed by post (gsi1) and by status (gsi2) with their own key prefixes (no new index).
SOURCE_LINK_PREFIX = "SOURCE#"


def ticket_source_link_key(
    workspace_id: str, ticket_id: str, source_kind: str, source_id: str
) -> dict[str, str]:
    """The ticket → source link (a comment, a review), written once per (ticket, source)."""
    return {
        PK: ticket_key(workspace_id, ticket_id)[PK],
        SK: f"{SOURCE_LINK_PREFIX}{source_kind}#{source_id}",
    }


def comment_key(workspace_id: str, comment_ref: str) -> dict[str, str]:
    """``comment_ref`` is derived from (channel, account, channel comment id): the Put that
    stores a comment is its dedupe."""
    return {PK: f"{ws(workspace_id)}#COMMENT#{comment_ref}", SK: "COMMENT"}


def post_comments_partition(
    workspace_id: str, channel: Channel | str, account_id: str, post_id: str
) -> str:
    return f"{ws(workspace_id)}#POST#{channel}#{account_id}#{post_id}#COMMENTS"


def comment_status_partition(workspace_id: str, status: str) -> str:
    return f"{ws(workspace_id)}#COMMENTS#{status}"


def comment_index(
    workspace_id: str,
    channel: Channel | str,
    account_id: str,
    post_id: str,
    status: str,
    created_at: datetime,
    comment_ref: str,
) -> dict[str, str]:
    """gsi1: a post's comments in time order; gsi2: the workspace's comments by status, newest
    first. ``comment_ref`` makes the sort keys unique."""
    sort = f"{_ms(created_at)}#{comment_ref}"
    return {
        "gsi1pk": post_comments_partition(workspace_id, channel, account_id, post_id),
        "gsi1sk": sort,
        "gsi2pk": comment_status_partition(workspace_id, status),
        "gsi2sk": sort,
    }


# Product reviews (Shopee, Lazada; issue #5). A review's key is derived from the channel's review
# id, so its guarded Put is the dedupe. Both indexes list a workspace's reviews of one status,
# lowest rating first and newest first within a rating (the sort key inverts the time), so a
# rating filter is a begins_with on the same key: gsi2 over all products, gsi1 per product.
_REVIEW_MAX_MS = 9_999_999_999_999


def review_key(workspace_id: str, review_id: str) -> dict[str, str]:
    return {PK: f"{ws(workspace_id)}#REVIEW#{review_id}", SK: "REVIEW"}


def reviews_status_partition(workspace_id: str, status: str) -> str:
    return f"{ws(workspace_id)}#REVIEWS#{status}"


def reviews_product_partition(workspace_id: str, status: str, product_id: str) -> str:
    return f"{ws(workspace_id)}#REVIEWS#{status}#PRODUCT#{product_id}"


def review_rating_prefix(rating: int) -> str:
    return f"{rating}#"


def review_sort(rating: int, created_at: datetime, review_id: str) -> str:
    return f"{review_rating_prefix(rating)}{_REVIEW_MAX_MS - to_ms(created_at):013d}#{review_id}"


def review_index(
    workspace_id: str,
    review_id: str,
    *,
    status: str,
    rating: int,
    product_id: str,
    created_at: datetime,
) -> dict[str, str]:
    sort = review_sort(rating, created_at, review_id)
    return {
        "gsi1pk": reviews_product_partition(workspace_id, status, product_id),
        "gsi1sk": sort,
        "gsi2pk": reviews_status_partition(workspace_id, status),
        "gsi2sk": sort,
    }


def review_pull_cursor_key(channel: Channel | str, account_id: str) -> dict[str, str]:
    """Where the scheduled review pull of one shop resumes (owned by the shop's connection, like
    the connection item itself)."""
    return {PK: f"REVIEWPULL#{channel}#{account_id}", SK: "CURSOR"}


def channel_connections_partition(channel: Channel | str) -> str:
    """gsi2 partition of every connection of one channel, all workspaces: the review pull lists
    the Shopee/Lazada shops with one Query (connections are few and rarely written)."""
    return f"CONNECTIONS#{channel}"


def connection_channel_index(channel: Channel | str, account_id: str) -> dict[str, str]:
    return {"gsi2pk": channel_connections_partition(channel), "gsi2sk": account_id}


# Assignment automation (issue #6, part 2): a workspace's ordered rules are one versioned item in
# their own partition, read only when a ticket is created (the workspace item carries just the
# version: ``automation_version``). A team's round-robin turns are a counter item (``rr_turn``) in
# the team's partition, apart from the team item, so no transaction ever includes it.
def automation_rules_key(workspace_id: str) -> dict[str, str]:
    return {PK: f"{ws(workspace_id)}#AUTOMATION", SK: "RULES"}


def round_robin_key(workspace_id: str, team_id: str) -> dict[str, str]:
    return {PK: team_members_partition(workspace_id, team_id), SK: "ROUND_ROBIN"}


# Workspace registry and automation state (issue #6 auto-close). The registry lists every
# workspace (one small item each, written when its settings are written or its first ticket
# number is taken), so a scheduled job visits workspaces with a paged Query, never a Scan.
WORKSPACE_REGISTRY = "WORKSPACES"
AUTO_CLOSE_CHECKPOINT = {PK: "AUTOMATION#AUTO_CLOSE", SK: "CHECKPOINT"}


def workspace_registry_key(workspace_id: str) -> dict[str, str]:
    return {PK: WORKSPACE_REGISTRY, SK: ws(workspace_id)}


def ticket_activity_before(cutoff: datetime) -> str:
    """Activity sort keys (``<ms>#<ticket>``) below this string are activities before ``cutoff``."""
    return _ms(cutoff)


# Ticket analytics (README "Ticket events and analytics"): pre-aggregated counters of a workspace
# in one small partition — the open-now item and one item per day, so a summary is one GetItem and
# one Query whatever the number of tickets — and one processed-marker per consumed event (TTL).
ANALYTICS_DAY_PREFIX = "DAY#"
ANALYTICS_MARKER_TTL_DAYS = 35  # > SQS retention (14 d) + DLQ retention (14 d) + redrive slack


def analytics_partition(workspace_id: str) -> str:
    return f"{ws(workspace_id)}#STATS"


def analytics_open_key(workspace_id: str) -> dict[str, str]:
    return {PK: analytics_partition(workspace_id), SK: "OPEN_NOW"}


def analytics_day_key(workspace_id: str, day: str) -> dict[str, str]:
    """``day`` is YYYY-MM-DD (UTC): the sort keys order the days, so a range is one Query."""
    return {PK: analytics_partition(workspace_id), SK: f"{ANALYTICS_DAY_PREFIX}{day}"}


def analytics_marker_key(workspace_id: str, idempotency_key: str) -> dict[str, str]:
    """One per consumed event: its guarded Put makes the counters' update exactly-once."""
    return {PK: f"{ws(workspace_id)}#EVENT#{idempotency_key}", SK: "ANALYTICS"}
