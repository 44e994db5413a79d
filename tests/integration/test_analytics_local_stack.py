"""The local stack runs ticket analytics from template.yaml as it is: a customer message and an
agent reply → table stream → TicketHistoryPipe / TicketMessagePipe → bus (GET /_local/events) →
TicketAnalyticsRule → queue → TicketAnalyticsFunction → GET /analytics/summary and the ticket."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.webhook_ingest.app import lambda_handler as ingest
from local import server as local_server
from local.auth import mint_token
from local.server import serve
from local.template import Handler, load_handler, load_template
from tests.helpers import FakeLambdaContext, unique
from ticketing.services.ingest import conversation_id_for

pytestmark = pytest.mark.integration

ANALYTICS_CODE = "functions/ticket_analytics/"


def wait_until(found: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := found():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def call(url: str, token: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - the local server
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_ticket_events_reach_the_summary_through_the_local_plumbing(
    app_env, accounts, repo, table_name, monkeypatch
):
    template = load_template()
    api_code = {route.code_uri for route in local_server.api_routes(template)}

    def load(code_uri: str, handler: str) -> Handler:
        # the API and the analytics consumer run for real; other consumers of the template
        # (senders, projections) are stubbed, so nothing leaves this machine
        if code_uri in api_code or code_uri == ANALYTICS_CODE:
            return load_handler(code_uri, handler)
        return lambda event, context: {"batchItemFailures": []}

    monkeypatch.setattr(local_server, "load_handler", load)
    server, thread = serve(0, template=template, plumbing={"TicketTable": table_name})
    try:
        # GIVEN a customer message, then an agent's reply through the local API
        psid = unique("psid-")
        now_ms = int(time.time() * 1000)
        event = accounts.messenger(
            accounts.messenger_message(unique("mid-"), "hello", psid=psid, ts=now_ms)
        )
        assert ingest(event, FakeLambdaContext())["statusCode"] == 200
        ticket_id = repo.get_conversation(
            accounts.workspace_id, conversation_id_for("messenger", accounts.page_id, psid)
        ).open_ticket_id
        token = mint_token("agent-1", accounts.workspace_id)
        status, _ = call(
            f"{server.url}/tickets/{ticket_id}/messages",
            token,
            "POST",
            {"text": "Checking now", "client_message_id": "c-1"},
        )
        assert status == 201

        # THEN the bus shows the ticket's events (created, message in, message out)
        def ours() -> list[dict[str, Any]]:
            with urllib.request.urlopen(f"{server.url}/_local/events?limit=500") as answer:  # noqa: S310
                listed = json.loads(answer.read())["events"]
            return [
                e
                for e in listed
                if e["detail-type"] in ("TicketChanged", "TicketMessageAdded")
                and e["detail"].get("ticket_id") == ticket_id
            ]

        events = wait_until(lambda: len(ours()) >= 3 and ours(), "the ticket's events")
        kinds = sorted(e["detail"].get("event") or e["detail"]["direction"] for e in events)
        assert kinds == ["created", "inbound", "outbound"]

        # AND the analytics consumer counted them: the summary and the ticket show them
        today = datetime.now(UTC).date().isoformat()

        def summary() -> Any:
            _, body = call(f"{server.url}/analytics/summary?from={today}&to={today}", token)
            totals = body["totals"]
            return body if totals["created"] and totals["first_responses"] else None

        body = wait_until(summary, "the summary to count the ticket")
        assert body["open_now"] == 1
        assert body["totals"]["messages_in"] == body["totals"]["messages_out"] == 1
        _, detail = call(f"{server.url}/tickets/{ticket_id}", token)
        assert detail["ticket"]["first_response_seconds"] is not None
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
