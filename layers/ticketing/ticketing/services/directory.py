"""Agents and teams: the workspace directory. Any agent reads it; admins change it (an agent may
set their own status)."""

from __future__ import annotations

from datetime import datetime

from ticketing.auth import Principal, require_admin
from ticketing.errors import ConflictError, ForbiddenError, InvalidRequestError, NotFoundError
from ticketing.models.people import (
    Agent,
    CreateAgentCommand,
    CreateTeamCommand,
    Team,
    TeamMember,
    UpdateAgentCommand,
)
from ticketing.repository.base import (
    DirectoryRecordMissingError,
    Page,
    RecordExistsError,
    TicketRepository,
)


def _agent_not_found(agent_id: str) -> NotFoundError:
    return NotFoundError("agent not found", details={"agent_id": agent_id})


def _team_not_found(team_id: str) -> NotFoundError:
    return NotFoundError("team not found", details={"team_id": team_id})


# ---------------------------------------------------------------------------- agents
def list_agents(
    repo: TicketRepository, who: Principal, *, limit: int, cursor: str | None
) -> Page[Agent]:
    return repo.list_agents(who.workspace_id, limit, cursor)


def create_agent(
    repo: TicketRepository, who: Principal, cmd: CreateAgentCommand, *, now: datetime
) -> Agent:
    require_admin(who)
    agent = Agent(
        workspace_id=who.workspace_id,
        agent_id=cmd.agent_id,
        name=cmd.name,
        email=cmd.email,
        status=cmd.status,
        created_at=now,
    )
    try:
        repo.create_agent(agent)
    except RecordExistsError as exc:
        raise ConflictError("agent already exists", details={"agent_id": cmd.agent_id}) from exc
    return agent


def update_agent(
    repo: TicketRepository, who: Principal, agent_id: str, cmd: UpdateAgentCommand
) -> Agent:
    """Admins change anything; an agent changes only their own status."""
    changes = cmd.changes()
    if not who.is_admin and (agent_id != who.agent_id or set(changes) - {"status"}):
        raise ForbiddenError(
            "agents may change only their own status; anything else is for admins",
            details={"agent_id": agent_id},
        )
    if not changes:
        raise InvalidRequestError("nothing to update")
    updated = repo.update_agent(who.workspace_id, agent_id, changes)
    if updated is None:
        raise _agent_not_found(agent_id)
    return updated


# ---------------------------------------------------------------------------- teams
def list_teams(
    repo: TicketRepository, who: Principal, *, limit: int, cursor: str | None
) -> Page[Team]:
    return repo.list_teams(who.workspace_id, limit, cursor)


def create_team(
    repo: TicketRepository, who: Principal, cmd: CreateTeamCommand, *, now: datetime
) -> Team:
    require_admin(who)
    team = Team(workspace_id=who.workspace_id, team_id=cmd.team_id, name=cmd.name, created_at=now)
    try:
        repo.create_team(team)
    except RecordExistsError as exc:
        raise ConflictError("team already exists", details={"team_id": cmd.team_id}) from exc
    return team


def get_team(repo: TicketRepository, who: Principal, team_id: str) -> tuple[Team, list[TeamMember]]:
    team = repo.get_team(who.workspace_id, team_id)
    if team is None:
        raise _team_not_found(team_id)
    return team, repo.list_team_members(who.workspace_id, team_id)


def add_member(
    repo: TicketRepository, who: Principal, team_id: str, agent_id: str, *, now: datetime
) -> TeamMember:
    """Idempotent; the team and the agent are checked in the membership's own transaction."""
    require_admin(who)
    member = TeamMember(
        workspace_id=who.workspace_id, team_id=team_id, agent_id=agent_id, added_at=now
    )
    try:
        repo.add_team_member(member)
    except DirectoryRecordMissingError as exc:
        if "team" in exc.missing:
            raise _team_not_found(team_id) from exc
        raise _agent_not_found(agent_id) from exc
    return member


def remove_member(repo: TicketRepository, who: Principal, team_id: str, agent_id: str) -> None:
    require_admin(who)
    if not repo.remove_team_member(who.workspace_id, team_id, agent_id):
        raise NotFoundError(
            "the agent is not a member of this team",
            details={"team_id": team_id, "agent_id": agent_id},
        )
