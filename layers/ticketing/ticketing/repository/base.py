"""The repository contract the services depend on, and the outcomes of its guarded writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ticketing.models.records import (
    Assignee,
    Channel,
    ChannelConnection,
    Contact,
    Conversation,
    DeliveryStatus,
    HistoryEvent,
    Message,
    RejectedRequest,
    Ticket,
    TicketStatus,
    WorkspaceSettings,
)

if TYPE_CHECKING:  # agent-side models: only named in signatures (webhook cold start)
    from ticketing.models.annotations import Note, TicketFieldDefinition
    from ticketing.models.people import Agent, Team, TeamMember
    from ticketing.models.replies import OutboxItem

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class RoutingContext:
    conversation: Conversation | None
    workspace: WorkspaceSettings | None
    message_exists: bool
    automation_version: int = 0  # the workspace's rule set version (0: no automation rules)


class GuardFailedError(Exception):
    """A conditional write found the records changed; carries what the store saw instead."""


@dataclass
class DuplicateMessageError(GuardFailedError):
    """The channel message id is already stored (a redelivery)."""


@dataclass
class ConversationChangedError(GuardFailedError):
    """The conversation guard moved on (another writer opened/closed a ticket)."""

    current: Conversation | None = None


@dataclass
class TicketStatusChangedError(GuardFailedError):
    """The ticket is no longer in the status the write expected."""

    current: Ticket | None = None


@dataclass
class IdentityTakenError(GuardFailedError):
    """The channel identity already belongs to a contact."""

    contact_id: str = ""


@dataclass
class ConnectionOwnedElsewhereError(GuardFailedError):
    """The channel account is connected to another workspace."""


@dataclass
class WriteConflictError(GuardFailedError):
    """DynamoDB cancelled the transaction for a concurrent transaction: retry."""

    reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordExistsError(GuardFailedError):
    """A create found its id taken (agents, teams)."""


@dataclass
class DirectoryRecordMissingError(GuardFailedError):
    """A directory check of a guarded write failed: ``missing`` names the records that were not
    there ("agent", "team", "member")."""

    missing: tuple[str, ...] = ()


class TicketRepository(Protocol):
    """Everything the domain reads and writes. Guarded writes raise a GuardFailedError subclass."""

    # workspace and connections
    def put_workspace(self, settings: WorkspaceSettings) -> None: ...
    def get_workspace(self, workspace_id: str) -> WorkspaceSettings | None: ...
    def put_connection(self, connection: ChannelConnection) -> None: ...
    def get_connection(self, channel: Channel, account_id: str) -> ChannelConnection | None: ...
    def connect_channel(self, connection: ChannelConnection) -> None: ...
    def update_connection(
        self, workspace_id: str, channel: Channel, account_id: str, changes: Mapping[str, Any]
    ) -> ChannelConnection | None: ...
    def list_connections(
        self, workspace_id: str, limit: int, cursor: str | None
    ) -> Page[ChannelConnection]: ...

    # routing of incoming messages
    def load_routing_context(
        self, workspace_id: str, conversation_id: str, message: Message
    ) -> RoutingContext: ...
    def get_conversation(self, workspace_id: str, conversation_id: str) -> Conversation | None: ...
    def allocate_ticket_number(self, workspace_id: str) -> int: ...
    def start_conversation(
        self,
        *,
        new_contact: Contact | None,
        conversation: Conversation,
        ticket: Ticket,
        message: Message,
        history: HistoryEvent,
        extra_history: Sequence[HistoryEvent] = (),
    ) -> None: ...
    def create_ticket(
        self,
        *,
        seen: Conversation,
        ticket: Ticket,
        message: Message | None,
        history: HistoryEvent,
        extra_history: Sequence[HistoryEvent] = (),
    ) -> None: ...
    def reopen_ticket(
        self,
        *,
        seen: Conversation,
        ticket_id: str,
        message: Message | None,
        history: HistoryEvent,
        now: datetime,
        from_status: TicketStatus = TicketStatus.CLOSED,
        expected_version: int | None = None,
    ) -> None: ...
    def append_message(
        self, *, message: Message, expected_status: TicketStatus | None, activity_at: datetime
    ) -> None: ...
    def leave_open(
        self,
        *,
        workspace_id: str,
        conversation_id: str,
        ticket_id: str,
        to_status: TicketStatus,
        history: HistoryEvent,
        now: datetime,
        expected_version: int | None = None,
        expected_activity_at: str | None = None,
    ) -> None: ...
    def change_ticket(
        self,
        *,
        workspace_id: str,
        ticket_id: str,
        set_values: Mapping[str, Any],
        remove: Sequence[str] = (),
        history: HistoryEvent,
        expected_version: int | None = None,
        extra: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> None: ...
    def spam_closed_ticket(
        self,
        *,
        workspace_id: str,
        conversation_id: str,
        ticket_id: str,
        is_latest: bool,
        history: HistoryEvent,
        expected_version: int | None = None,
    ) -> None: ...

    def update_delivery_status(
        self,
        *,
        workspace_id: str,
        channel: Channel,
        account_id: str,
        channel_message_id: str,
        status: DeliveryStatus,
        at: datetime,
        error: str | None,
    ) -> bool: ...
    def mark_message_deleted(
        self,
        *,
        workspace_id: str,
        channel: Channel,
        account_id: str,
        channel_message_id: str,
        at: datetime,
    ) -> bool: ...

    def keep_rejected_request(self, request: RejectedRequest) -> None: ...

    # agent replies and the outbox (one transaction; a stored key answers the stored message)
    def add_reply(self, *, message: Message, outbox: OutboxItem) -> Message | None: ...
    def list_outbox(
        self, workspace_id: str, limit: int, cursor: str | None
    ) -> Page[OutboxItem]: ...

    # annotations: internal notes and ticket field definitions
    def add_note(self, *, note: Note, history: HistoryEvent) -> None: ...
    def list_notes(
        self, workspace_id: str, ticket_id: str, limit: int, cursor: str | None
    ) -> Page[Note]: ...
    def put_ticket_field(self, definition: TicketFieldDefinition) -> None: ...
    def list_ticket_fields(self, workspace_id: str) -> list[TicketFieldDefinition]: ...

    # agents and teams (the workspace directory) and assignment
    def create_agent(self, agent: Agent) -> None: ...
    def get_agent(self, workspace_id: str, agent_id: str) -> Agent | None: ...
    def list_agents(self, workspace_id: str, limit: int, cursor: str | None) -> Page[Agent]: ...
    def update_agent(
        self, workspace_id: str, agent_id: str, changes: Mapping[str, Any]
    ) -> Agent | None: ...
    def create_team(self, team: Team) -> None: ...
    def get_team(self, workspace_id: str, team_id: str) -> Team | None: ...
    def list_teams(self, workspace_id: str, limit: int, cursor: str | None) -> Page[Team]: ...
    def add_team_member(self, member: TeamMember) -> None: ...
    def remove_team_member(self, workspace_id: str, team_id: str, agent_id: str) -> bool: ...
    def list_team_members(self, workspace_id: str, team_id: str) -> list[TeamMember]: ...
    def assign_ticket(
        self,
        *,
        workspace_id: str,
        ticket_id: str,
        assignee: Assignee,
        at: datetime,
        history: HistoryEvent,
        seen_version: int,
    ) -> None: ...

    # the contact view
    def get_contact(self, workspace_id: str, contact_id: str) -> Contact | None: ...
    def list_contact_conversations(
        self, workspace_id: str, contact_id: str
    ) -> list[Conversation]: ...
    def list_contact_tickets(
        self, workspace_id: str, contact_id: str, limit: int, cursor: str | None
    ) -> Page[Ticket]: ...

    # reads
    def get_ticket(self, workspace_id: str, ticket_id: str) -> Ticket | None: ...
    def list_tickets(
        self, workspace_id: str, status: TicketStatus, limit: int, cursor: str | None
    ) -> Page[Ticket]: ...
    def list_messages(
        self, workspace_id: str, ticket_id: str, limit: int, cursor: str | None
    ) -> Page[Message]: ...
    def list_history(self, workspace_id: str, ticket_id: str) -> list[HistoryEvent]: ...
