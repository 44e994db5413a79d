"""local.server answers like API Gateway before the template's functions (fake handlers here)."""

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from local import server as local_server
from local.auth import ISSUER, mint_token, verify
from local.dynamodb_local import free_port
from local.server import LocalApiServer, build_event, env_vars_file, local_environment, serve
from local.template import Handler, Route, load_template, parse_template

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE = parse_template(
    """
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {Auth: {DefaultAuthorizer: Cognito}}
  Tickets:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/tickets/
      Handler: app.lambda_handler
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: '/tickets/{ticket_id}', Method: GET}
        Search:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /tickets/search, Method: GET}
  Hooks:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/hooks/
      Handler: app.lambda_handler
      Events:
        Receive:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /webhooks/{channel}
            Method: POST
            Auth: {Authorizer: NONE}
  Closer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/closer/
      Handler: app.lambda_handler
      Events:
        Every: {Type: Schedule, Properties: {Schedule: rate(15 minutes)}}
"""
)
TICKET_ROUTE = Route(
    "GET",
    "/tickets/{ticket_id}",
    "Tickets",
    "functions/tickets/",
    "app.lambda_handler",
    False,
    "Get",
)


@dataclass
class FakeFunctions:
    """Stands in for load_handler: records (code_uri, event, context), answers with ``respond``."""

    calls: list[tuple[str, dict[str, Any], Any]] = field(default_factory=list)
    respond: Callable[[dict[str, Any]], Any] = lambda event: {"statusCode": 200, "body": "ok"}
    called: threading.Event = field(default_factory=threading.Event)

    def load(self, code_uri: str, handler: str) -> Handler:
        def handle(event: dict[str, Any], context: Any) -> Any:
            self.calls.append((code_uri, event, context))
            self.called.set()
            return self.respond(event)

        return handle


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeFunctions:
    functions = FakeFunctions()
    monkeypatch.setattr(local_server, "load_handler", functions.load)
    return functions


@pytest.fixture
def api(fake: FakeFunctions) -> Iterator[LocalApiServer]:
    server, thread = serve(0, template=TEMPLATE)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def call(
    server: LocalApiServer,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def bearer(token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or mint_token('agent-7', 'ws-9')}"}


# -- auth ------------------------------------------------------------------------------------------


def test_minted_token_verifies_with_the_claims_the_api_reads() -> None:
    # GIVEN a minted token
    # WHEN it is verified
    claims = verify(mint_token("agent-1", "ws-1", hours=1))

    # THEN it carries the agent, workspace and issuer
    assert (claims["sub"], claims["custom:workspace_id"], claims["iss"]) == (
        "agent-1",
        "ws-1",
        ISSUER,
    )


def test_tokens_with_another_secret_or_expired_are_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a token signed with another secret and an expired one
    monkeypatch.setenv("TICKET_ENGINE_JWT_SECRET", "another-secret-of-enough-length")
    foreign = mint_token()
    monkeypatch.delenv("TICKET_ENGINE_JWT_SECRET")
    expired = mint_token(hours=-1)

    # WHEN / THEN both fail verification
    with pytest.raises(jwt.InvalidSignatureError):
        verify(foreign)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(expired)


def test_auth_cli_prints_a_valid_token() -> None:
    # GIVEN / WHEN the CLI mints a token
    output = subprocess.run(
        [sys.executable, "-m", "local.auth", "--agent", "a-cli", "--workspace", "w-cli"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    # THEN it verifies
    assert verify(output.strip())["sub"] == "a-cli"


# -- events ----------------------------------------------------------------------------------------


def test_event_carries_path_query_and_headers_as_sent() -> None:
    # GIVEN an encoded path parameter, repeated and blank query values and mixed-case headers
    headers = [
        ("X-Custom-Header", "one"),
        ("x-lower", "a"),
        ("x-lower", "b"),
        ("Host", "localhost:3000"),
    ]

    # WHEN the event is built
    event = build_event(
        TICKET_ROUTE, "GET", "/tickets/t%2F1?status=open&tag=a&tag=b&empty=", headers, None
    )

    # THEN it has API Gateway's v1 shape
    assert (event["resource"], event["path"], event["httpMethod"]) == (
        "/tickets/{ticket_id}",
        "/tickets/t%2F1",
        "GET",
    )
    assert event["pathParameters"] == {
        "ticket_id": "t%2F1"
    }  # API Gateway does not decode path parameters
    assert event["queryStringParameters"] == {"status": "open", "tag": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {
        "status": ["open"],
        "tag": ["a", "b"],
        "empty": [""],
    }
    assert event["headers"] == {"X-Custom-Header": "one", "x-lower": "b", "Host": "localhost:3000"}
    assert event["multiValueHeaders"]["x-lower"] == ["a", "b"]
    assert (event["body"], event["isBase64Encoded"]) == (None, False)
    context = event["requestContext"]
    assert (context["resourcePath"], context["httpMethod"], context["stage"]) == (
        "/tickets/{ticket_id}",
        "GET",
        "local",
    )
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert "authorizer" not in context


def test_event_without_query_or_path_parameters_has_nulls() -> None:
    # GIVEN a route without parameters
    route = replace(TICKET_ROUTE, path="/tickets/search")

    # WHEN a bare request is built
    event = build_event(route, "GET", "/tickets/search", [], b"")

    # THEN the empty parts are None, as API Gateway sends them
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] is None


@pytest.mark.parametrize(
    ("body", "expected", "is_base64"),
    [
        ('héllo {"a": 1}'.encode(), 'héllo {"a": 1}', False),
        (b"\xff\xd8\xff\x00binary", base64.b64encode(b"\xff\xd8\xff\x00binary").decode(), True),
    ],
)
def test_event_body_is_text_or_base64(body: bytes, expected: str, is_base64: bool) -> None:
    # GIVEN a UTF-8 or a binary body
    # WHEN the event is built
    event = build_event(TICKET_ROUTE, "POST", "/tickets/1", [], body)

    # THEN text is passed as is and anything else as base64
    assert (event["body"], event["isBase64Encoded"]) == (expected, is_base64)


def test_local_environment_is_the_union_of_function_environments() -> None:
    # GIVEN the project's template
    template = load_template()

    # WHEN the server's environment is built with an override
    env = local_environment(
        template, {"TicketTable": "ticket-engine-local"}, {"POWERTOOLS_LOG_LEVEL": "DEBUG"}
    )

    # THEN globals, every function's own variables and the override are there
    assert env["TABLE_NAME"] == "ticket-engine-local"
    assert "META_APP_ID" in env
    assert env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"


def test_env_vars_file_is_read_like_sam_local(tmp_path: Path) -> None:
    # GIVEN a sam local --env-vars file with Parameters and a section per function
    path = tmp_path / "env.json"
    path.write_text(
        json.dumps({"Parameters": {"A": "1", "B": "1"}, "Hooks": {"B": 2}, "Nope": {"C": 3}})
    )

    # WHEN it is read for the template
    env = env_vars_file(path, TEMPLATE)

    # THEN Parameters apply, the template's functions override them, and other sections are ignored
    assert env == {"A": "1", "B": "2"}


# -- over HTTP -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["missing", "garbage", "not-bearer"],
)
def test_protected_route_without_a_valid_token_is_401(
    api: LocalApiServer, fake: FakeFunctions, headers: dict[str, str]
) -> None:
    # GIVEN a route behind the Cognito authorizer
    # WHEN it is called without a valid token
    status, _, body = call(api, "GET", "/tickets/t1", headers)

    # THEN API Gateway's 401 comes back and the function is not invoked
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert fake.calls == []


def test_protected_route_rejects_expired_and_foreign_tokens(
    api: LocalApiServer, fake: FakeFunctions
) -> None:
    # GIVEN an expired token and one signed with another key
    now = datetime.now(UTC)
    foreign = jwt.encode(
        {"sub": "a", "iss": ISSUER, "iat": now, "exp": now + timedelta(hours=1)}, "x" * 32, "HS256"
    )

    # WHEN / THEN both get 401 without invoking
    for token in (mint_token(hours=-1), foreign):
        assert call(api, "GET", "/tickets/t1", bearer(token))[0] == 401
    assert fake.calls == []


def test_claims_reach_the_handler_as_cognito_strings(
    api: LocalApiServer, fake: FakeFunctions
) -> None:
    # GIVEN a valid token
    # WHEN a protected route is called
    status, _, _ = call(api, "GET", "/tickets/t1", bearer())

    # THEN the handler sees its claims under requestContext.authorizer.claims, every value a string
    assert status == 200
    [(code_uri, event, context)] = fake.calls
    claims = event["requestContext"]["authorizer"]["claims"]
    assert code_uri == "functions/tickets/"
    assert (claims["sub"], claims["custom:workspace_id"]) == ("agent-7", "ws-9")
    assert all(isinstance(value, str) for value in claims.values())
    assert claims["exp"].endswith(f"UTC {datetime.now(UTC).year}") or claims["exp"].endswith(
        f"UTC {datetime.now(UTC).year + 1}"
    )
    assert (context.function_name, context.get_remaining_time_in_millis() > 0) == ("Tickets", True)


def test_literal_route_wins_over_a_parameter(api: LocalApiServer, fake: FakeFunctions) -> None:
    # GIVEN /tickets/search and /tickets/{ticket_id}
    # WHEN /tickets/search is called
    call(api, "GET", "/tickets/search?q=x", bearer())

    # THEN the literal route handles it
    [(_, event, _)] = fake.calls
    assert (event["resource"], event["pathParameters"]) == ("/tickets/search", None)


def test_open_route_passes_binary_body_and_header_casing(
    api: LocalApiServer, fake: FakeFunctions
) -> None:
    # GIVEN an Authorizer: NONE route and a binary body with a mixed-case signature header
    body = bytes(range(256))

    # WHEN it is posted without a token
    status, _, _ = call(
        api, "POST", "/webhooks/whatsapp?x=1", {"X-Hub-Signature-256": "sha256=ab"}, body
    )

    # THEN the handler gets the path parameter, the header as sent and the body as base64
    assert status == 200
    [(_, event, _)] = fake.calls
    assert event["pathParameters"] == {"channel": "whatsapp"}
    assert event["headers"]["X-Hub-Signature-256"] == "sha256=ab"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body
    assert "authorizer" not in event["requestContext"]


def test_handler_response_is_written_back(api: LocalApiServer, fake: FakeFunctions) -> None:
    # GIVEN a handler answering 201 with multi-value headers and a base64 body
    fake.respond = lambda event: {
        "statusCode": 201,
        "headers": {"Content-Type": "image/png", "X-One": "1"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(b"\x89PNG").decode(),
        "isBase64Encoded": True,
    }

    # WHEN it is called
    status, headers, body = call(api, "POST", "/webhooks/x", body=b"{}")

    # THEN status, headers and the decoded body come back
    assert (status, headers["Content-Type"], headers["X-One"], body) == (
        201,
        "image/png",
        "1",
        b"\x89PNG",
    )
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]


def test_unknown_route_is_404(api: LocalApiServer, fake: FakeFunctions) -> None:
    # WHEN a path or method the template does not declare is called
    # THEN 404 and no invocation
    assert call(api, "GET", "/nope")[0] == 404
    assert call(api, "DELETE", "/webhooks/x")[0] == 404
    assert fake.calls == []


@pytest.mark.parametrize(
    "respond", [lambda e: 1 / 0, lambda e: "not a proxy response"], ids=["raises", "malformed"]
)
def test_failing_handler_is_502(
    api: LocalApiServer, fake: FakeFunctions, respond: Callable[[dict[str, Any]], Any]
) -> None:
    # GIVEN a handler that raises or returns something API Gateway cannot use
    fake.respond = respond

    # WHEN it is called
    status, _, body = call(api, "POST", "/webhooks/x", body=b"{}")

    # THEN API Gateway's 502
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})


def test_schedule_route_sends_a_scheduled_event(api: LocalApiServer, fake: FakeFunctions) -> None:
    # GIVEN a function with a Schedule event
    fake.respond = lambda event: {"closed": 2}

    # WHEN its schedule is triggered by hand
    status, _, body = call(api, "POST", "/_local/schedules/Closer")

    # THEN it got EventBridge's Scheduled Event and its result is returned
    assert (status, json.loads(body)) == (200, {"function": "Closer", "result": {"closed": 2}})
    [(code_uri, event, _)] = fake.calls
    assert code_uri == "functions/closer/"
    assert (event["detail-type"], event["source"], event["detail"]) == (
        "Scheduled Event",
        "aws.events",
        {},
    )
    assert {"version", "id", "account", "time", "region", "resources"} <= set(event)
    assert call(api, "POST", "/_local/schedules/Tickets")[0] == 404


def test_scheduler_fires_on_the_rate(fake: FakeFunctions) -> None:
    # GIVEN a server whose schedule runs every second
    server = LocalApiServer(("127.0.0.1", 0), TEMPLATE)
    server.schedules = [replace(schedule, interval_seconds=1) for schedule in server.schedules]

    # WHEN the scheduler runs
    server.start_scheduler()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fired = fake.called.wait(timeout=5)
    finally:
        server.shutdown()
        server.server_close()

    # THEN the function got a Scheduled Event
    assert fired
    assert fake.calls[0][1]["detail-type"] == "Scheduled Event"


def test_project_routes_need_tokens_where_the_template_says(fake: FakeFunctions) -> None:
    # GIVEN the server on the project's own template
    server, _ = serve(0, template=load_template())
    try:
        # WHEN the agent API and the webhook are called without a token
        tickets = call(server, "GET", "/tickets")[0]
        webhook = call(server, "GET", "/webhooks/whatsapp?hub.mode=subscribe")[0]
    finally:
        server.shutdown()
        server.server_close()

    # THEN only the agent API refuses
    assert (tickets, webhook) == (401, 200)
    assert [code_uri for code_uri, _, _ in fake.calls] == ["functions/webhook_ingest/"]


def _dynamodb_local_running(port: int) -> bool:
    pattern = f"DynamoDBLocal.jar.*-port {port}"
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


def test_main_serves_and_leaves_no_jvm_after_sigterm() -> None:
    # GIVEN `python -m local.server` on free ports
    api_port, db_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((".", "layers/ticketing"))}  # as `make run`
    process = subprocess.Popen(
        [sys.executable, "-m", "local.server", "--port", str(api_port),
         "--dynamodb-port", str(db_port), "--table-name", "main-test"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{api_port}" in output, output
        token = next(line.split()[1] for line in lines if line.startswith("Token"))
        assert verify(token)["sub"] == "agent-demo"
        assert _dynamodb_local_running(db_port)

        # WHEN it is called and then sent SIGTERM
        connection = http.client.HTTPConnection("127.0.0.1", api_port, timeout=5)
        connection.request("GET", "/tickets")
        status = connection.getresponse().status
        connection.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()

    # THEN it answered, exited cleanly and its JVM is gone
    assert status == 401
    assert process.returncode == 0
    assert not _dynamodb_local_running(db_port)
