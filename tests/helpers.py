"""Helpers shared by tests: sample events, a Lambda context, unique channel accounts."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import demo
from local.streams import StreamTail  # noqa: F401  (re-exported for the tests)

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """The same files `sam local invoke -e events/<name>.json` uses."""
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@dataclass
class Accounts:
    """A workspace of its own with a Messenger Page and a LINE bot connected (demo secrets)."""

    workspace_id: str
    page_id: str
    line_bot_id: str

    def messenger(self, *messaging: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
        payload = demo.messenger_payload(*messaging, page_id=self.page_id)
        return demo.messenger_webhook_event(payload, secret)

    def messenger_message(
        self, mid: str, text: str, *, psid: str = "psid-1", ts: int = demo.T0
    ) -> dict[str, Any]:
        message: dict[str, Any] = demo.messenger_message(mid, text, psid=psid, ts=ts)
        message["recipient"]["id"] = self.page_id
        return message

    def line(self, *events: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
        return demo.line_webhook_event(demo.line_payload(*events, bot_id=self.line_bot_id), secret)

    def claims(self, agent_id: str = "agent-1") -> dict[str, str]:
        return {"sub": agent_id, "custom:workspace_id": self.workspace_id}


def api_get(
    path: str,
    resource: str,
    *,
    claims: dict[str, str] | None,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    return demo.api_event(
        "GET", resource, path, query=query, path_parameters=path_parameters, claims=claims
    )


# The view follower of the running integration test (tests/integration/conftest.py sets it).
_FOLLOWER: list[Any] = []


def catch_up_views() -> int:
    """Let the inbox lists catch up with what this test wrote (the view projector, fed from the
    table's stream); how many ticket records it applied."""
    return _FOLLOWER[-1].catch_up() if _FOLLOWER else 0


def status_list(
    client: Any, table: str, workspace_id: str, status: str, *, catch_up: bool = True
) -> list[dict[str, Any]]:
    """A workspace's list of one status as the inbox reads it (the status view's entries, once the
    projector has caught up), each checked against the ticket item it copies. Returns the ticket
    items themselves (raw reads)."""
    from ticketing.repository import keys
    from ticketing.repository.dynamodb import from_dynamo
    from ticketing.views import status_view

    if catch_up:
        catch_up_views()
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": keys.GSI1,
        "KeyConditionExpression": "gsi1pk = :p",
        "ExpressionAttributeValues": {
            ":p": {"S": keys.view_partition(workspace_id, status_view(status))}
        },
    }
    tickets: list[dict[str, Any]] = []
    while True:
        page = client.query(**kwargs)
        entries = page.get("Items", [])
        for start in range(0, len(entries), 100):
            chunk = entries[start : start + 100]
            wanted = [{keys.PK: e[keys.PK], keys.SK: {"S": "TICKET"}} for e in chunk]
            found = client.batch_get_item(
                RequestItems={table: {"Keys": wanted, "ConsistentRead": True}}
            )
            assert not found.get("UnprocessedKeys"), "DynamoDB Local left keys unread"
            items = {i[keys.PK]["S"]: i for i in found["Responses"][table]}
            for entry in chunk:
                item = items[entry[keys.PK]["S"]]
                ticket = from_dynamo(item)
                assert ticket["status"] == str(status), "listed under a status it does not have"
                assert entry["last_activity_at"] == item["last_activity_at"], "entry behind"
                tickets.append(ticket)
        if "LastEvaluatedKey" not in page:
            return tickets
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def api_call(
    handler: Any,
    method: str,
    resource: str,
    claims: dict[str, str] | None,
    *,
    params: dict[str, str] | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One agent-API request through ``handler`` (an API Gateway event, as ``demo.api_event``
    builds it); ``resource`` is the template path, filled in from ``params``. Returns the status
    and the JSON body (None when empty). Test modules bind their handler:
    ``call = functools.partial(api_call, api)``."""
    path = resource
    for name, value in (params or {}).items():
        path = path.replace(f"{{{name}}}", value)
    event = demo.api_event(
        method,
        resource,
        path,
        body=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
        path_parameters=params,
        query=query,
        claims=claims,
    )
    response = handler(event, FakeLambdaContext())
    text = response["body"]
    return response["statusCode"], json.loads(text) if text else None
