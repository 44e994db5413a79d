"""The bench's own DynamoDB Local, the handlers' environment and signed Messenger events.

The environment is the one tests/conftest.py's ``app_env`` gives the handlers (the Lambda
environment, pointed at DynamoDB Local); it is set before any handler module is imported, since
Powertools reads it when the Logger and Metrics are constructed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from local import demo
from local.dynamodb_local import DynamoDBLocal
from local.template import create_tables, load_template

ROOT_PATH = Path(__file__).resolve().parent.parent
TABLE_NAME = "ticket-engine-bench"
# tests/conftest.py POWERTOOLS_ENV
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "ticket-engine-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "TicketEngineBench",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
TEXT = "Hi! Is the blue dress still in stock in size M? I'd like two."  # 62 bytes


def handler_env(endpoint: str, table_name: str = TABLE_NAME) -> dict[str, str]:
    """tests/conftest.py ``app_env``: what the handlers see in AWS, pointed at DynamoDB Local."""
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": table_name,
        "LOCAL_SECRETS_FILE": str(demo.SECRETS_FILE),
        "META_VERIFY_TOKEN_REF": demo.SECRET_REFS["meta_verify_token"],
        "META_APP_ID": "1517776481860111",
        **POWERTOOLS_ENV,
    }


def clear_caches() -> None:
    """The handlers' cached settings, client, repository and connection directory."""
    from functions.webhook_ingest.app import connections
    from ticketing.config import get_settings
    from ticketing.repository.dynamodb import dynamodb_client, get_repository

    get_settings.cache_clear()
    dynamodb_client.cache_clear()
    get_repository.cache_clear()
    connections.cache_clear()


@contextmanager
def local_stack() -> Iterator[dict[str, str]]:
    """DynamoDB Local with the template's table; os.environ set as the handlers expect."""
    with DynamoDBLocal() as db:
        create_tables(db.client(), load_template(), {"TicketTable": TABLE_NAME})
        env = handler_env(db.endpoint)
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            clear_caches()
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def client(max_pool_connections: int | None = None) -> Any:
    """A DynamoDB client with the product's config (``CLIENT_CONFIG``), from the environment."""
    from ticketing.repository.dynamodb import CLIENT_CONFIG

    config = CLIENT_CONFIG
    if max_pool_connections:
        config = config.merge(Config(max_pool_connections=max_pool_connections))
    return boto3.client("dynamodb", config=config)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@dataclass
class LambdaContext:
    function_name: str = "bench"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id: str = "bench-request"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


CONTEXT = LambdaContext()


@dataclass
class Workspace:
    """A workspace of its own with one Messenger Page connected (signed with the demo secret)."""

    workspace_id: str
    page_id: str
    secret: str

    @classmethod
    def create(cls, *, reopen_window_seconds: int | str | None = "default") -> Workspace:
        from ticketing.models import Channel, ChannelConnection, WorkspaceSettings
        from ticketing.repository.dynamodb import get_repository

        repo = get_repository()
        ws = cls(unique("ws-bench-"), unique("page-"), demo.secrets()["messenger-app-secret"])
        settings = WorkspaceSettings(workspace_id=ws.workspace_id, name="Bench shop")
        if reopen_window_seconds != "default":
            settings = settings.model_copy(update={"reopen_window_seconds": reopen_window_seconds})
        repo.put_workspace(settings)
        repo.put_connection(
            ChannelConnection(
                channel=Channel.MESSENGER,
                account_id=ws.page_id,
                workspace_id=ws.workspace_id,
                secret_ref=demo.SECRET_REFS["messenger"],
            )
        )
        return ws

    def message(self, psid: str, *, mid: str | None = None, ts: int = demo.T0) -> dict[str, Any]:
        """A signed Messenger webhook (API Gateway event) with one customer text message."""
        message: dict[str, Any] = demo.messenger_message(
            mid or unique("m_bench_"), TEXT, psid=psid, ts=ts
        )
        message["recipient"]["id"] = self.page_id
        payload = demo.messenger_payload(message, page_id=self.page_id)
        return demo.messenger_webhook_event(payload, self.secret)

    def conversation_id(self, psid: str) -> str:
        from ticketing.services.ingest import conversation_id_for

        return conversation_id_for("messenger", self.page_id, psid)

    def claims(self, agent_id: str = "agent-bench") -> dict[str, str]:
        return {"sub": agent_id, "custom:workspace_id": self.workspace_id}


def ingest(event: dict[str, Any], expect: str | None = None) -> dict[str, Any]:
    """Post an event to the real webhook handler; check the outcome when ``expect`` is given."""
    import json

    from functions.webhook_ingest.app import lambda_handler

    response: dict[str, Any] = lambda_handler(event, CONTEXT)
    if expect is not None:
        body = json.loads(response["body"])
        if response["statusCode"] != 200 or body.get("outcomes") != {expect: 1}:
            raise RuntimeError(f"expected {expect!r}, got {response['statusCode']} {body}")
    return response


def open_ticket(ws: Workspace, psid: str) -> str:
    """Start a conversation through the handler; the id of its open ticket."""
    ingest(ws.message(psid), expect="created")
    return latest_ticket(ws, psid)


def latest_ticket(ws: Workspace, psid: str) -> str:
    from ticketing.repository.dynamodb import get_repository

    conversation = get_repository().get_conversation(ws.workspace_id, ws.conversation_id(psid))
    assert conversation is not None
    assert conversation.latest_ticket_id is not None
    return conversation.latest_ticket_id


def close(ws: Workspace, ticket_id: str) -> None:
    """An agent closes the ticket (services.tickets.leave_open, as the API would)."""
    from ticketing.clock import utc_now
    from ticketing.models import TicketStatus
    from ticketing.repository.dynamodb import get_repository
    from ticketing.services import tickets

    tickets.leave_open(
        get_repository(),
        ws.workspace_id,
        ticket_id,
        TicketStatus.CLOSED,
        actor="agent-bench",
        now=utc_now(),
    )


def api_get(
    ws: Workspace,
    path: str,
    resource: str,
    *,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    return demo.api_event(
        "GET", resource, path, query=query, path_parameters=path_parameters, claims=ws.claims()
    )


def call_api(event: dict[str, Any]) -> dict[str, Any]:
    from functions.ticket_api.app import lambda_handler

    response: dict[str, Any] = lambda_handler(event, CONTEXT)
    if response["statusCode"] != 200:
        raise RuntimeError(f"ticket API answered {response['statusCode']}: {response['body']}")
    return response
