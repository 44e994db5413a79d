"""Agents, teams and contacts as the agent API sees them: workspace directory records, their
commands and responses, the assignment command and the contact view."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ticketing.models.records import Contact, Conversation, Ticket

# Ids are key parts (WS#<ws>#AGENTS / AGENT#<id>): never "#", no spaces. A Cognito sub fits.
DirectoryId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$", examples=["agent-7"]),
]
Email = Annotated[
    str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", examples=["ann@shop.example"])
]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class AgentStatus(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Agent(_Record):
    workspace_id: str
    agent_id: str = Field(description="The agent's Cognito sub.")
    name: str
    email: str | None = None
    status: AgentStatus = AgentStatus.AVAILABLE
    created_at: datetime


class Team(_Record):
    workspace_id: str
    team_id: str
    name: str
    created_at: datetime


class TeamMember(_Record):
    workspace_id: str
    team_id: str
    agent_id: str
    added_at: datetime


# ---------------------------------------------------------------------------- commands
class CreateAgentCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: DirectoryId
    name: Name
    email: Email | None = None
    status: AgentStatus = AgentStatus.AVAILABLE


class UpdateAgentCommand(BaseModel):
    """Admins may change anything; an agent may change only their own status."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    email: Email | None = None
    status: AgentStatus | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class CreateTeamCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team_id: DirectoryId
    name: Name


class AssignCommand(BaseModel):
    """Set the ticket's agent and/or team. A key left out keeps its value; ``null`` clears it."""

    model_config = ConfigDict(extra="forbid")

    agent_id: DirectoryId | None = None
    team_id: DirectoryId | None = None

    @model_validator(mode="after")
    def _names_something(self) -> AssignCommand:
        if not self.model_fields_set:
            raise ValueError("give agent_id and/or team_id (null clears one)")
        return self

    def changes(self) -> dict[str, str | None]:
        """Only the keys the caller sent."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


# ---------------------------------------------------------------------------- responses
class AgentListResponse(BaseModel):
    items: list[Agent]
    next_cursor: str | None = Field(default=None, description="Opaque; pass as ?cursor=.")


class TeamListResponse(BaseModel):
    items: list[Team]
    next_cursor: str | None = Field(default=None, description="Opaque; pass as ?cursor=.")


class TeamDetailResponse(BaseModel):
    team: Team
    members: list[TeamMember]


class ContactViewResponse(BaseModel):
    contact: Contact
    conversations: list[Conversation] = Field(
        description="One per channel account the contact wrote on, with its open/latest ticket."
    )
    tickets: list[Ticket] = Field(description="Across channels, newest first.")
    next_tickets_cursor: str | None = Field(
        default=None, description="Opaque; pass as ?tickets_cursor=."
    )
