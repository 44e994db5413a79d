"""``/automation/rules`` routes of the agent API (included by app.py): the workspace's assignment
rules, evaluated in order when a ticket is created (first match wins). Any agent reads them;
workspace admins create, change, delete and reorder them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ticketing.auth import Principal, principal_from_claims
from ticketing.clock import utc_now
from ticketing.http import responses
from ticketing.models.automation import (
    RULE_ID_PATTERN,
    CreateRuleCommand,
    ReorderRulesCommand,
    RuleListResponse,
    RuleResponse,
    UpdateRuleCommand,
)
from ticketing.models.responses import ErrorResponse
from ticketing.repository.automation import DynamoAutomationStore
from ticketing.repository.dynamodb import get_repository
from ticketing.services import automation
from ticketing.services.tickets import parse_if_match

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools: untyped __init__

RuleId = Annotated[str, Path(pattern=RULE_ID_PATTERN)]
STALE: OpenAPIResponse = {
    "description": "If-Match names a rules version the workspace has moved past",
    "content": {"application/json": {"model": ErrorResponse}},
}


def _caller() -> Principal:
    return principal_from_claims(router.current_event.request_context.authorizer.claims)


def _store() -> DynamoAutomationStore:
    return DynamoAutomationStore(get_repository())


def _if_match() -> int | None:
    """``If-Match: <rules version>`` (from GET /automation/rules) makes a change conditional."""
    return parse_if_match(router.current_event.headers.get("If-Match"))


def _response(view: automation.RuleView) -> RuleResponse:
    return RuleResponse(rule=view.rule, position=view.position, version=view.version)


@router.get("/automation/rules", responses=responses())
def list_automation_rules() -> RuleListResponse:
    """The workspace's rules in evaluation order, and the rules ``version``."""
    rule_set = automation.list_rules(_store(), _caller())
    return RuleListResponse(items=rule_set.rules, version=rule_set.version)


@router.post("/automation/rules", responses=responses(201, "Rule created"))
def create_automation_rule(
    command: Annotated[CreateRuleCommand, Body()],
) -> tuple[RuleResponse, int]:
    """Workspace admins. 422 names each set_fields key the workspace's ticket field definitions
    refuse, and an assign team/agent that does not exist; 409 at the rule limit (50)."""
    view = automation.create_rule(_store(), get_repository(), _caller(), command, now=utc_now())
    return _response(view), 201


# Before /automation/rules/{rule_id}: "order" is not a rule id (ids are ru_<ULID>) either way.
@router.put("/automation/rules/order", responses=responses())
def reorder_automation_rules(
    command: Annotated[ReorderRulesCommand, Body()],
) -> RuleListResponse:
    """Workspace admins: every rule id once, in the new order, with the ``version`` the order
    was decided on (409 naming the current version when the rules changed since)."""
    rule_set = automation.reorder_rules(_store(), _caller(), command)
    return RuleListResponse(items=rule_set.rules, version=rule_set.version)


@router.get("/automation/rules/<rule_id>", responses=responses())
def get_automation_rule(rule_id: RuleId) -> RuleResponse:
    return _response(automation.get_rule(_store(), _caller(), rule_id))


@router.put("/automation/rules/<rule_id>", responses={**responses(), 412: STALE})
def update_automation_rule(
    rule_id: RuleId, command: Annotated[UpdateRuleCommand, Body()]
) -> RuleResponse:
    """Workspace admins: replace the rule (its id and place in the order are kept).
    ``If-Match: <rules version>`` optional."""
    view = automation.update_rule(
        _store(),
        get_repository(),
        _caller(),
        rule_id,
        command,
        now=utc_now(),
        expected_version=_if_match(),
    )
    return _response(view)


@router.delete("/automation/rules/<rule_id>", responses={**responses(204, "Deleted"), 412: STALE})
def delete_automation_rule(rule_id: RuleId) -> Response[str]:
    """Workspace admins. ``If-Match: <rules version>`` optional."""
    automation.delete_rule(_store(), _caller(), rule_id, expected_version=_if_match())
    return Response(status_code=204, body="")
