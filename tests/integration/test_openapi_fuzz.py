"""The agent API's OpenAPI document, served by the local API, and schemathesis run against it.

The local server runs in-process on a free loopback port over DynamoDB Local. Each operation gets
a fresh workspace (``accounts``: a Messenger Page and a LINE bot) with one ticket, and schemathesis
sends it valid and invalid requests (bodies, queries, content types, methods) as that workspace's
admin (a minted token); no answer may be a 5xx. Bounded: MAX_EXAMPLES generated cases per
operation on top of schemathesis's deterministic coverage cases, derandomized.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from functions.webhook_ingest.app import lambda_handler as webhook
from local.auth import mint_token
from local.openapi import openapi_document
from local.server import LocalApiServer, serve
from tests.helpers import Accounts, FakeLambdaContext
from ticketing.models import Channel

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 10


@pytest.fixture(scope="module")
def local_api() -> Iterator[LocalApiServer]:
    """The template's API on a free loopback port, handlers in this process (they read the
    environment each test's ``app_env`` sets when they are called)."""
    server, thread = serve(0)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def get(server: LocalApiServer, target: str, token: str | None = None) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


@pytest.fixture
def seeded(accounts: Accounts, local_api: LocalApiServer) -> dict[str, str]:
    """An admin token of the workspace and the ids of its ticket and Messenger connection."""
    event = accounts.messenger(accounts.messenger_message("m-fuzz-1", "hello", psid="psid-fuzz"))
    assert webhook(event, FakeLambdaContext())["statusCode"] == 200
    token = mint_token("agent-fuzz", accounts.workspace_id, groups=("admin",))
    status, _, body = get(local_api, "/tickets?status=open", token)
    assert status == 200
    [ticket] = json.loads(body)["items"]
    return {"token": token, "ticket_id": ticket["ticket_id"], "page_id": accounts.page_id}


# -- the document, served -------------------------------------------------------------------------


def test_openapi_json_is_served_without_a_token(app_env: None, local_api: LocalApiServer) -> None:
    # GIVEN the local API
    # WHEN /openapi.json is fetched without a token
    status, content_type, body = get(local_api, "/openapi.json")

    # THEN it is the generated document (the one committed as openapi.json)
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == openapi_document()


def test_swagger_ui_is_served_offline(app_env: None, local_api: LocalApiServer) -> None:
    # GIVEN the local API
    # WHEN /swagger is fetched, and the URL its page downloads the spec from
    status, content_type, body = get(local_api, "/swagger")
    spec_status, _, spec = get(local_api, "/swagger?format=json")

    # THEN the page carries Swagger UI's script and stylesheet and the spec inline, loads nothing
    # from elsewhere, and the download is the document
    page = body.decode("utf-8")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert "SwaggerUIBundle" in page
    assert ".swagger-ui" in page
    assert "Ticket Engine agent API" in page
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']?(https?:)?//""", page)
    assert (spec_status, json.loads(spec)) == (200, openapi_document())


# -- what schemathesis found (each was a 500 or a 503) --------------------------------------------


def post(
    server: LocalApiServer, target: str, token: str, body: bytes, content_type: str
) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


CONNECTION = {"channel": "line", "account_id": "U-fuzz", "secret_ref": "local:line-fuzz"}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (json.dumps(CONNECTION).encode(), "text/plain", 415, "unsupported_media_type"),
        (json.dumps(CONNECTION).encode(), "multipart/form-data", 415, "unsupported_media_type"),
        (b"\xff\xfe{}", "application/json", 422, "validation_error"),
        (
            json.dumps({**CONNECTION, "options": {"": "x"}}).encode(),
            "application/json",
            422,
            "validation_error",
        ),
    ],
    ids=["text-plain", "multipart-without-boundary", "not-utf8", "empty-option-key"],
)
def test_unreadable_or_unstorable_bodies_are_client_errors(
    local_api: LocalApiServer,
    seeded: dict[str, str],
    body: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    # GIVEN a body the API cannot read, or one DynamoDB would refuse to store
    # WHEN it is posted
    answer = post(local_api, "/connections", seeded["token"], body, content_type)

    # THEN it is the client's error, in the one error shape
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)


# -- schemathesis ---------------------------------------------------------------------------------

# Loaded eagerly from the generated document (the one served: see above).
# `schemathesis.pytest.from_fixture` could read it from the server, but schemathesis 4.32 reads
# pytest's `Function._nodeid`, which pytest 9 no longer has.
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error(
    case: schemathesis.Case, local_api: LocalApiServer, seeded: dict[str, str]
) -> None:
    # GIVEN a generated request (valid or not) for an agent API operation, aimed at the seeded
    # ticket and connection (random ids would only ever meet a 404)
    seeded_ids = {
        "ticket_id": seeded["ticket_id"],
        "channel": Channel.MESSENGER.value,
        "account_id": seeded["page_id"],
    }
    if case.path_parameters:
        case.path_parameters = {
            name: seeded_ids.get(name, value) for name, value in case.path_parameters.items()
        }

    # WHEN it is sent to the local API as the workspace's admin
    # THEN the answer is not a 5xx
    case.call_and_validate(
        base_url=local_api.url,
        headers={"Authorization": f"Bearer {seeded['token']}"},
        checks=[not_a_server_error],
    )
