"""The agent API's routes. Thin: authorise from the Cognito claims, call a service, shape it.

Imported by ``app.py`` on the first invocation (or the first read of ``app.app``), not at its
import: the validating resolver, the pydantic models and the services are the first request's cost
(cold start, bench/README.md section 4).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from ticketing import clock
from ticketing.auth import Principal
from ticketing.http import caller, responses, rest_resolver
from ticketing.models.annotations import (
    FIELD_KEY_PATTERN,
    AddLabelsCommand,
    AddNoteCommand,
    NoteListResponse,
    NoteResponse,
    PutTicketFieldCommand,
    SetTicketFieldsCommand,
    TicketFieldListResponse,
    TicketFieldResponse,
)
from ticketing.models.people import (
    Agent,
    AgentListResponse,
    AssignCommand,
    ContactViewResponse,
    CreateAgentCommand,
    CreateTeamCommand,
    Team,
    TeamDetailResponse,
    TeamListResponse,
    TeamMember,
    UpdateAgentCommand,
)
from ticketing.models.records import Channel, Message, Ticket, TicketStatus
from ticketing.models.replies import ReplyCommand
from ticketing.models.responses import (
    OpenTicketCommand,
    TicketDetailResponse,
    TicketListResponse,
)
from ticketing.repository.dynamodb import get_repository
from ticketing.routers.analytics import router as analytics_router
from ticketing.services import annotations as annotating
from ticketing.services import assignment, contacts, directory, replies, tickets, views
from ticketing.services.tickets import TransitionCommand

try:  # as a package (pytest, the local stack); Lambda loads app.py as a top-level module
    from functions.ticket_api.workspace_settings import router as workspace_settings_router
except ModuleNotFoundError:  # pragma: no cover - the Lambda layout (sam build)
    from workspace_settings import (  # type: ignore[import-not-found,no-redef]
        router as workspace_settings_router,
    )
try:  # assignment automation rules (issue #6): same two layouts as above
    from functions.ticket_api.automation_rules import router as automation_rules_router
except ModuleNotFoundError:  # pragma: no cover - the Lambda layout (sam build)
    from automation_rules import (  # type: ignore[import-not-found,no-redef]
        router as automation_rules_router,
    )

app = rest_resolver()
app.include_router(workspace_settings_router)  # /workspace/settings
app.include_router(automation_rules_router)  # /automation/rules
app.include_router(analytics_router)  # /analytics/summary (ticketing.routers.analytics)

# the handler module (functions.ticket_api.app as a package, app in the Lambda layout)
HANDLER_MODULE = f"{__package__}.app" if __package__ else "app"


def utc_now() -> datetime:
    """Now, by the handler module's ``utc_now`` (looked up per call: tests pin that one)."""
    handler = sys.modules.get(HANDLER_MODULE)
    now: datetime = (handler.utc_now if handler is not None else clock.utc_now)()
    return now


def principal() -> Principal:
    return caller(app)


@app.get("/tickets", responses=responses())
def list_tickets(
    status: Annotated[TicketStatus, Query(description="Which inbox")] = TicketStatus.OPEN,
    assignee: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=128,
            description='One view of the status: "me", "none" (unassigned) or an agent id.',
        ),
    ] = None,
    team: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    label: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    channel: Annotated[Channel | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> TicketListResponse:
    """Tickets of one status, newest activity first; optionally one view of it (only one of
    assignee, team, label, channel). Views follow ticket changes through the table's stream."""
    who = principal()
    query = views.ViewQuery(assignee=assignee, team=team, label=label, channel=channel)
    page = views.list_tickets(get_repository(), who, status, query, limit=limit, cursor=cursor)
    return TicketListResponse(items=page.items, next_cursor=page.next_cursor)


@app.get("/tickets/<ticket_id>", responses=responses())
def get_ticket(
    ticket_id: Annotated[str, Path(min_length=1, max_length=64)],
    messages_limit: Annotated[int, Query(ge=1, le=100)] = 50,
    messages_cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> TicketDetailResponse:
    who = principal()
    detail = tickets.get_ticket_detail(
        get_repository(),
        who.workspace_id,
        ticket_id,
        messages_limit=messages_limit,
        messages_cursor=messages_cursor,
    )
    return TicketDetailResponse(
        ticket=detail.ticket,
        messages=detail.messages.items,
        next_messages_cursor=detail.messages.next_cursor,
        history=detail.history,
    )


TicketId = Annotated[str, Path(min_length=1, max_length=64)]


def if_match() -> int | None:
    """Optimistic concurrency: ``If-Match: <version>`` (quotes and W/ tolerated)."""
    raw = app.current_event.headers.get("If-Match")  # case-insensitive in Powertools v3
    return tickets.parse_if_match(raw)


@app.post("/tickets", responses=responses(201, "Opened"))
def open_ticket(command: Annotated[OpenTicketCommand, Body()]) -> tuple[Ticket, int]:
    """Open a ticket by hand on a conversation (409 naming the open ticket if there is one)."""
    who = principal()
    ticket = tickets.open_ticket(
        get_repository(),
        who.workspace_id,
        command.conversation_id,
        actor=who.agent_id,
        now=utc_now(),
    )
    return ticket, 201


def _transition(command: TransitionCommand, ticket_id: str) -> Ticket:
    """A status transition by the calling agent, conditional on If-Match when given."""
    who = principal()
    return command(
        get_repository(),
        who.workspace_id,
        ticket_id,
        actor=who.agent_id,
        now=utc_now(),
        expected_version=if_match(),
    )


@app.post("/tickets/<ticket_id>/close", responses=responses())
def close_ticket(ticket_id: TicketId) -> Ticket:
    return _transition(tickets.close_ticket, ticket_id)


@app.post("/tickets/<ticket_id>/reopen", responses=responses())
def reopen_ticket(ticket_id: TicketId) -> Ticket:
    """Manual reopen (the reopen window does not apply); 409 if another ticket is open."""
    return _transition(tickets.reopen_ticket, ticket_id)


@app.post("/tickets/<ticket_id>/spam", responses=responses())
def mark_spam(ticket_id: TicketId) -> Ticket:
    return _transition(tickets.mark_spam, ticket_id)


@app.post("/tickets/<ticket_id>/unspam", responses=responses())
def unmark_spam(ticket_id: TicketId) -> Ticket:
    """Back to open; 409 if the conversation has another open ticket."""
    return _transition(tickets.unmark_spam, ticket_id)


# ---------------------------------------------------------------------------- notes
@app.post("/tickets/<ticket_id>/notes", responses=responses(201, "Note added"))
def add_note(
    ticket_id: TicketId, command: Annotated[AddNoteCommand, Body()]
) -> tuple[NoteResponse, int]:
    """An internal note (agents only; never sent to the customer)."""
    who = principal()
    note = annotating.add_note(
        get_repository(),
        who.workspace_id,
        ticket_id,
        command.text,
        actor=who.agent_id,
        now=utc_now(),
    )
    return NoteResponse.of(note), 201


@app.get("/tickets/<ticket_id>/notes", responses=responses())
def list_notes(
    ticket_id: TicketId,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> NoteListResponse:
    """The ticket's internal notes, oldest first."""
    who = principal()
    page = annotating.list_notes(
        get_repository(), who.workspace_id, ticket_id, limit=limit, cursor=cursor
    )
    return NoteListResponse(
        items=[NoteResponse.of(n) for n in page.items], next_cursor=page.next_cursor
    )


# ---------------------------------------------------------------------------- labels
@app.post("/tickets/<ticket_id>/labels", responses=responses())
def add_labels(ticket_id: TicketId, command: Annotated[AddLabelsCommand, Body()]) -> Ticket:
    """Add labels (at most 20 per ticket); ``If-Match`` optional."""
    who = principal()
    return annotating.add_labels(
        get_repository(),
        who.workspace_id,
        ticket_id,
        command.labels,
        actor=who.agent_id,
        now=utc_now(),
        expected_version=if_match(),
    )


@app.delete("/tickets/<ticket_id>/labels/<label>", responses=responses())
def remove_label(
    ticket_id: TicketId, label: Annotated[str, Path(min_length=1, max_length=200)]
) -> Ticket:
    """Remove a label; ``If-Match`` optional."""
    who = principal()
    return annotating.remove_label(
        get_repository(),
        who.workspace_id,
        ticket_id,
        label,
        actor=who.agent_id,
        now=utc_now(),
        expected_version=if_match(),
    )


# ---------------------------------------------------------------------------- ticket fields
@app.get("/ticket-fields", responses=responses())
def list_ticket_fields() -> TicketFieldListResponse:
    """The workspace's ticket field definitions."""
    who = principal()
    definitions = annotating.list_ticket_fields(get_repository(), who.workspace_id)
    return TicketFieldListResponse(items=[TicketFieldResponse.of(d) for d in definitions])


@app.put("/ticket-fields/<key>", responses=responses())
def put_ticket_field(
    key: Annotated[str, Path(pattern=FIELD_KEY_PATTERN)],
    command: Annotated[PutTicketFieldCommand, Body()],
) -> TicketFieldResponse:
    """Create or replace a ticket field definition (workspace admins)."""
    who = principal()
    definition = annotating.put_ticket_field(get_repository(), who, key, command, now=utc_now())
    return TicketFieldResponse.of(definition)


@app.patch("/tickets/<ticket_id>/fields", responses=responses())
def set_ticket_fields(
    ticket_id: TicketId, command: Annotated[SetTicketFieldsCommand, Body()]
) -> Ticket:
    """Set (or clear, with null) field values; 422 names every field that is not valid."""
    who = principal()
    return annotating.set_ticket_fields(
        get_repository(),
        who.workspace_id,
        ticket_id,
        command.values,
        actor=who.agent_id,
        now=utc_now(),
        expected_version=if_match(),
    )


# ---------------------------------------------------------------------------- replies
@app.post(
    "/tickets/<ticket_id>/messages",
    responses=responses(
        201,
        "Reply stored and queued for sending (a retry with a stored client_message_id answers"
        " 200 with that message, and queues nothing)",
    ),
)
def send_reply(
    ticket_id: TicketId, command: Annotated[ReplyCommand, Body()]
) -> tuple[Message, int]:
    """Reply to the customer: stored as an outbound message (``delivery_status`` "sending") and
    put on the outbox in one transaction. Idempotent on ``client_message_id``; 409 when the
    ticket is closed or spam (reopen it first)."""
    who = principal()
    result = replies.reply(
        get_repository(),
        who.workspace_id,
        ticket_id,
        command,
        agent_id=who.agent_id,
        now=utc_now(),
    )
    return result.message, 201 if result.created else 200


# ---------------------------------------------------------------------------- assignment
@app.put("/tickets/<ticket_id>/assignee", responses=responses())
def assign_ticket(ticket_id: TicketId, command: Annotated[AssignCommand, Body()]) -> Ticket:
    """Assign to an agent and/or a team (a key left out keeps its value, null clears it); 422
    names the field when the agent or team does not exist, or the agent is not in the team.
    ``If-Match`` optional (412 when the ticket moved on; without it the last write wins)."""
    who = principal()
    return assignment.assign(
        get_repository(),
        who.workspace_id,
        ticket_id,
        command.changes(),
        actor=who.agent_id,
        now=utc_now(),
        expected_version=if_match(),
    )


@app.delete("/tickets/<ticket_id>/assignee", responses=responses())
def unassign_ticket(ticket_id: TicketId) -> Ticket:
    """Back to Unassigned; ``If-Match`` optional."""
    who = principal()
    return assignment.unassign(
        get_repository(),
        who.workspace_id,
        ticket_id,
        actor=who.agent_id,
        now=utc_now(),
        expected_version=if_match(),
    )


# ---------------------------------------------------------------------------- agents and teams
DirectoryPathId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]


@app.get("/agents", responses=responses())
def list_agents(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> AgentListResponse:
    who = principal()
    page = directory.list_agents(get_repository(), who, limit=limit, cursor=cursor)
    return AgentListResponse(items=page.items, next_cursor=page.next_cursor)


@app.post("/agents", responses=responses(201, "Agent created"))
def create_agent(command: Annotated[CreateAgentCommand, Body()]) -> tuple[Agent, int]:
    """Workspace admins; 409 when the agent id exists."""
    who = principal()
    return directory.create_agent(get_repository(), who, command, now=utc_now()), 201


@app.patch("/agents/<agent_id>", responses=responses())
def update_agent(
    agent_id: DirectoryPathId, command: Annotated[UpdateAgentCommand, Body()]
) -> Agent:
    """Admins change anything; an agent may set their own status (available / away)."""
    who = principal()
    return directory.update_agent(get_repository(), who, agent_id, command)


@app.get("/teams", responses=responses())
def list_teams(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> TeamListResponse:
    who = principal()
    page = directory.list_teams(get_repository(), who, limit=limit, cursor=cursor)
    return TeamListResponse(items=page.items, next_cursor=page.next_cursor)


@app.post("/teams", responses=responses(201, "Team created"))
def create_team(command: Annotated[CreateTeamCommand, Body()]) -> tuple[Team, int]:
    """Workspace admins; 409 when the team id exists."""
    who = principal()
    return directory.create_team(get_repository(), who, command, now=utc_now()), 201


@app.get("/teams/<team_id>", responses=responses())
def get_team(team_id: DirectoryPathId) -> TeamDetailResponse:
    """A team with its members."""
    who = principal()
    team, members = directory.get_team(get_repository(), who, team_id)
    return TeamDetailResponse(team=team, members=members)


@app.put("/teams/<team_id>/members/<agent_id>", responses=responses())
def add_team_member(team_id: DirectoryPathId, agent_id: DirectoryPathId) -> TeamMember:
    """Workspace admins; idempotent. 404 when the team or the agent does not exist."""
    who = principal()
    return directory.add_member(get_repository(), who, team_id, agent_id, now=utc_now())


@app.delete("/teams/<team_id>/members/<agent_id>", responses=responses(204, "Removed"))
def remove_team_member(team_id: DirectoryPathId, agent_id: DirectoryPathId) -> Response[str]:
    """Workspace admins; 404 when the agent is not a member."""
    who = principal()
    directory.remove_member(get_repository(), who, team_id, agent_id)
    return Response(status_code=204, body="")


# ---------------------------------------------------------------------------- contacts
@app.get("/contacts/<contact_id>", responses=responses())
def get_contact(
    contact_id: Annotated[str, Path(min_length=1, max_length=64)],
    tickets_limit: Annotated[int, Query(ge=1, le=100)] = 25,
    tickets_cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ContactViewResponse:
    """A contact, its conversations (one per channel account) and its tickets across channels,
    newest first (paginated with ``tickets_cursor``)."""
    who = principal()
    view = contacts.get_contact_view(
        get_repository(),
        who.workspace_id,
        contact_id,
        tickets_limit=tickets_limit,
        tickets_cursor=tickets_cursor,
    )
    return ContactViewResponse(
        contact=view.contact,
        conversations=view.conversations,
        tickets=view.tickets.items,
        next_tickets_cursor=view.tickets.next_cursor,
    )
