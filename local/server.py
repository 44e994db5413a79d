"""Local stand-in for ``sam local start-api``: API Gateway (REST, v1 events) before the handlers.

    python -m local.server    # DynamoDB Local on :8000, tables from template.yaml, API on :3000

Routes, auth and schedules come from template.yaml. Handlers run in this process (no containers):

- Requests are turned into the event API Gateway sends; routes without ``Auth: Authorizer: NONE``
  need ``Authorization: Bearer <token>`` from ``local.auth`` (401 without invoking otherwise),
  and its claims arrive as ``requestContext.authorizer.claims`` (all strings, as from Cognito).
- Each function handles one event at a time (like one Lambda instance), so calls to the same
  function are serialised; different functions run concurrently. Timeouts are not enforced.
- Handlers read settings at first use, so ``main()`` puts the union of every function's
  environment in ``os.environ`` once: per-function differences are merged locally.
- ``POST /_local/schedules/{FunctionLogicalId}`` sends a function its EventBridge "Scheduled Event"
  now; with ``run_schedules`` a thread also fires each schedule on its rate (cron: every 60 s).
- ``GET /_local/outbox?workspace_id=&limit=&cursor=`` lists a workspace's outbox items (default:
  the demo workspace), oldest first. In AWS the table's stream and an EventBridge Pipe carry them
  to the bus; locally local/plumbing.py does (below), and this still lists what is stored.
- Event plumbing (local/plumbing.py, started with the server by ``main()``): the tables' streams
  feed the template's Pipes and DynamoDB function events; buses, rules, SQS queues (visibility,
  redrive to DLQs) and SQS function events run in process. ``GET /_local/events?detail_type=&
  source=&bus=&limit=`` lists the events put on the buses (``POST`` puts some, as PutEvents),
  ``GET /_local/queues`` shows queue depths and DLQ contents.
- ``GET /openapi.json`` is the agent API's OpenAPI document (local/openapi.py, generated from the
  resolvers at first use) and ``GET /swagger`` a Swagger UI over it, offline: its script and
  stylesheet are the ones Powertools ships, inlined. No token needed; API Gateway serves neither.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import json
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import boto3
import jwt

from local.auth import mint_token, verify
from local.dynamodb_local import DynamoDBLocal
from local.plumbing import Plumbing
from local.template import (
    TEMPLATE_PATH,
    Handler,
    Invocable,
    Route,
    Schedule,
    api_routes,
    create_tables,
    function_environment,
    function_properties,
    load_handler,
    load_template,
    schedules,
    table_definitions,
)
from local.template import function_ids as all_function_ids

logger = logging.getLogger("local.server")

ACCOUNT_ID = "123456789012"
STAGE = "local"
DEFAULT_REGION = "us-east-1"
DEFAULT_TABLE_NAME = "ticket-engine-local"
SCHEDULE_PATH = re.compile(r"/_local/schedules/(?P<function_id>[^/]+)/?")
OUTBOX_PATH = "/_local/outbox"
OPENAPI_PATH = "/openapi.json"
SWAGGER_PATH = "/swagger"
SWAGGER_ASSETS = "aws_lambda_powertools.event_handler.openapi.swagger_ui"
COGNITO_DATE_CLAIMS = ("exp", "iat", "auth_time")


class LambdaContext:
    """The parts of the Lambda context object that handlers and Powertools read."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float, region: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# -- events --------------------------------------------------------------------------------------


@functools.cache
def _path_pattern(template_path: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """``/tickets/{ticket_id}`` → a regex, one group per ``{param}`` (``{param+}``: any depth)."""
    names: list[str] = []
    parts: list[str] = []
    for segment in template_path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            names.append(segment[1:-1].removesuffix("+"))
            parts.append("(.+)" if segment.endswith("+}") else "([^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts)), tuple(names)


def match_path(template_path: str, path: str) -> dict[str, str] | None:
    """The path parameters if ``path`` fits (still URL-encoded, as API Gateway sends them)."""
    pattern, names = _path_pattern(template_path)
    found = pattern.fullmatch(path.rstrip("/") or "/")
    return dict(zip(names, found.groups(), strict=True)) if found else None


def _route_priority(route: Route) -> tuple[bool, int, bool]:
    """Literal routes before parameters (longest literal part first); ``{x+}`` and ANY last."""
    literal = len(re.sub(r"\{[^}]*\}", "", route.path))
    return "+}" in route.path, -literal, route.method == "ANY"


def cognito_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as a REST API's Cognito authorizer passes them: all strings, and dates rendered
    like ``Thu Nov 26 10:00:00 UTC 2026``."""
    rendered = {}
    for name, value in claims.items():
        if name in COGNITO_DATE_CLAIMS and isinstance(value, int):
            rendered[name] = datetime.fromtimestamp(value, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        elif isinstance(value, list):
            # as API Gateway renders Cognito's list claims (cognito:groups): "[admin, agents]"
            rendered[name] = "[" + ", ".join(str(v) for v in value) + "]"
        else:
            rendered[name] = value if isinstance(value, str) else json.dumps(value)
    return rendered


def build_event(
    route: Route,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    *,
    source_ip: str = "127.0.0.1",
    claims: Mapping[str, str] | None = None,
    stage: str = STAGE,
) -> dict[str, Any]:
    """The REST API (payload v1) proxy event for a request to ``target`` (path?query)."""
    url = urlsplit(target)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    is_base64 = False
    text: str | None = None
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode("ascii"), True
    now = datetime.now(UTC)
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": "local",
        "resourceId": "local",
        "resourcePath": route.path,
        "httpMethod": method,
        "path": f"/{stage}{url.path}",
        "stage": stage,
        "protocol": "HTTP/1.1",
        "requestId": str(uuid.uuid4()),
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "domainName": next(
            (v[-1] for k, v in multi_headers.items() if k.lower() == "host"), "localhost"
        ),
        "identity": {
            "sourceIp": source_ip,
            "userAgent": next(
                (v[-1] for k, v in multi_headers.items() if k.lower() == "user-agent"), None
            ),
        },
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": dict(claims)}
    return {
        "resource": route.path,
        "path": url.path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match_path(route.path, url.path) or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": text,
        "isBase64Encoded": is_base64,
    }


def scheduled_event(schedule: Schedule, region: str = DEFAULT_REGION) -> dict[str, Any]:
    """What EventBridge sends on a schedule (or the event's Input, when the template sets one)."""
    if schedule.input is not None:
        event: dict[str, Any] = json.loads(schedule.input)
        return event
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [
            f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{schedule.function_id}{schedule.event_id}"
        ],
        "detail": {},
    }


def proxy_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a handler's proxy result; TypeError/KeyError/ValueError if
    it is malformed (API Gateway answers 502 then)."""
    if not isinstance(result, dict):
        raise TypeError(f"Malformed Lambda proxy response: {type(result).__name__}")
    merged = {
        name: [str(v) for v in values]
        for name, values in (result.get("multiValueHeaders") or {}).items()
    }
    for name, value in (result.get("headers") or {}).items():
        if str(value) not in (values := merged.setdefault(name, [])):
            values.append(str(value))
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise TypeError("Malformed Lambda proxy response: body is not a string")
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    headers = [(name, value) for name, values in merged.items() for value in values]
    return int(result["statusCode"]), headers, payload


def swagger_page(document: Mapping[str, Any]) -> str:
    """Swagger UI over ``document``, self-contained: Powertools' swagger-ui bundle and stylesheet
    (shipped in its wheel) are inlined, so the page needs no network."""
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = resources.files(SWAGGER_ASSETS)
    return generate_swagger_html(
        json.dumps(document).replace("</", "<\\/"),  # the spec sits inside a <script>
        assets.joinpath("swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        assets.joinpath("swagger-ui.min.css").read_text(encoding="utf-8"),
        swagger_base_url="",
        oauth2_config=None,
        persist_authorization=True,
    )


# -- server --------------------------------------------------------------------------------------


class LocalApiServer(ThreadingHTTPServer):
    """Serves the template's API routes and schedules by calling the handlers in-process."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], template: Mapping[str, Any], *, region: str = DEFAULT_REGION
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.template = template
        self.region = region
        self.routes = sorted(api_routes(template), key=_route_priority)
        self.schedules = schedules(template)
        self._handlers: dict[str, Handler] = {}
        self._locks = {
            function_id: threading.Lock() for function_id in {t.function_id for t in self.targets}
        }
        # event plumbing: every function may be invoked (by a queue, a stream, a rule)
        self._locks |= {
            f: threading.Lock() for f in all_function_ids(template) if f not in self._locks
        }
        self.plumbing: Plumbing | None = None
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._docs_lock = threading.Lock()
        self._docs: dict[str, Any] | None = None

    @property
    def targets(self) -> list[Route | Schedule]:
        return [*self.routes, *self.schedules]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def match(self, method: str, path: str) -> Route | None:
        for route in self.routes:
            if route.method in (method, "ANY") and match_path(route.path, path) is not None:
                return route
        return None

    def invoke(self, target: Invocable, event: Any) -> Any:
        """Call the target's handler (imported on first use) with a fresh context; one call per
        function at a time."""
        with self._locks[target.function_id]:
            handler = self._handlers.get(target.function_id)
            if handler is None:
                handler = self._handlers[target.function_id] = load_handler(
                    target.code_uri, target.handler
                )
            properties = function_properties(self.template, target.function_id)
            context = LambdaContext(
                target.function_id,
                int(properties.get("MemorySize", 128)),
                float(properties.get("Timeout", 3)),
                self.region,
            )
            return handler(event, context)

    def openapi_document(self) -> dict[str, Any]:
        """The agent API's OpenAPI document, generated once from the resolvers."""
        with self._docs_lock:
            if self._docs is None:
                from local.openapi import openapi_document

                self._docs = openapi_document(self.template)
            return self._docs

    def start_scheduler(self) -> None:
        if self.schedules and self._scheduler is None:
            self._scheduler = threading.Thread(
                target=self._run_schedules, name="local-scheduler", daemon=True
            )
            self._scheduler.start()

    def _run_schedules(self) -> None:
        due = {
            schedule: time.monotonic() + schedule.interval_seconds for schedule in self.schedules
        }
        while True:
            schedule = min(due, key=due.__getitem__)
            if self._stop.wait(max(0.0, due[schedule] - time.monotonic())):
                return
            due[schedule] += schedule.interval_seconds
            logger.info("schedule %s.%s fired", schedule.function_id, schedule.event_id)
            try:
                self.invoke(schedule, scheduled_event(schedule, self.region))
            except Exception:
                logger.exception("scheduled %s failed", schedule.function_id)

    def shutdown(self) -> None:
        """Stop serving and the scheduler (waits for a scheduled call in progress, up to 10 s)."""
        self._stop.set()
        super().shutdown()
        if self._scheduler is not None:
            self._scheduler.join(timeout=10)
        if self.plumbing is not None:  # its stream / queue / async threads
            self.plumbing.stop()


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length
    disable_nagle_algorithm = True  # headers and body leave at once (no delayed-ACK stall)

    def handle_request(self) -> None:
        url = urlsplit(self.path)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send_json(411, {"message": "Length Required"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.server.plumbing is not None and (
            answer := self.server.plumbing.handle_http(self.command, url.path, url.query, body)
        ):
            self._send_json(*answer)
            return
        if self.command == "GET" and url.path.rstrip("/") == OUTBOX_PATH:
            self._serve_outbox(dict(parse_qsl(url.query)))
            return
        if self.command == "POST" and (found := SCHEDULE_PATH.fullmatch(url.path)):
            self._trigger_schedule(found["function_id"])
            return
        if self.command in ("GET", "HEAD") and url.path in (OPENAPI_PATH, SWAGGER_PATH):
            self._serve_docs(url.path, parse_qs(url.query).get("format", [""])[-1])
            return
        route = self.server.match(self.command, url.path)
        if route is None:
            self._send_json(404, {"message": "Not Found"})
            return
        claims = None
        if not route.auth_none and (claims := self._authorize()) is None:
            self._send_json(401, {"message": "Unauthorized"})
            return
        event = build_event(
            route, self.command, self.path, list(self.headers.items()), body,
            source_ip=self.client_address[0], claims=claims,
        )  # fmt: skip
        try:
            status, headers, payload = proxy_response(self.server.invoke(route, event))
        except Exception:
            logger.exception("%s %s: handler %s failed", self.command, url.path, route.function_id)
            self._send_json(502, {"message": "Internal server error"})
            return
        self._send(status, headers, payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_request  # noqa: N815 - stdlib names
    do_HEAD = do_OPTIONS = handle_request  # noqa: N815

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY, ...) is routed like API Gateway would: no route, 404;
        # the stdlib answers 501 to methods without a do_ method.
        if name.startswith("do_"):
            return self.handle_request
        raise AttributeError(name)

    def _authorize(self) -> dict[str, str] | None:
        header = self.headers.get("Authorization", "")
        # "Bearer <jwt>"; like Cognito authorizers, the bare token is accepted too.
        token = header[7:] if header[:7].lower() == "bearer " else header
        try:
            return cognito_claims(verify(token.strip()))
        except jwt.InvalidTokenError:
            return None

    def _serve_outbox(self, query: dict[str, str]) -> None:
        """The outbox items of a workspace (local only: no stream or pipe runs here)."""
        from local.demo import WORKSPACE_ID
        from ticketing.errors import TicketEngineError
        from ticketing.repository.dynamodb import get_repository

        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            self._send_json(400, {"message": "limit must be 1..100"})
            return
        try:
            page = get_repository().list_outbox(
                query.get("workspace_id", WORKSPACE_ID), limit, query.get("cursor") or None
            )
        except TicketEngineError as exc:
            self._send_json(exc.status_code, exc.to_body())
            return
        items = [item.model_dump(mode="json") for item in page.items]
        self._send_json(200, {"items": items, "next_cursor": page.next_cursor})

    def _trigger_schedule(self, function_id: str) -> None:
        schedule = next((s for s in self.server.schedules if s.function_id == function_id), None)
        if schedule is None:
            self._send_json(404, {"message": f"No schedule for {function_id}"})
            return
        try:
            result = self.server.invoke(schedule, scheduled_event(schedule, self.server.region))
        except Exception:
            logger.exception("scheduled %s failed", function_id)
            self._send_json(502, {"message": "Internal server error"})
            return
        self._send_json(200, {"function": function_id, "result": result})

    def _serve_docs(self, path: str, format_: str) -> None:
        try:
            document = self.server.openapi_document()
        except Exception:
            logger.exception("the OpenAPI document could not be generated")
            self._send_json(500, {"message": "OpenAPI document unavailable"})
            return
        if path == SWAGGER_PATH and format_ != "json":  # the UI fetches ?format=json to download
            page = swagger_page(document).encode("utf-8")
            self._send(200, [("Content-Type", "text/html; charset=utf-8")], page)
        else:
            self._send_json(200, document)

    def _send_json(self, status: int, body: Any) -> None:
        self._send(
            status, [("Content-Type", "application/json")], json.dumps(body, default=str).encode()
        )

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        skipped = {"content-length", "transfer-encoding", "connection"}
        for name, value in headers:
            if name.lower() not in skipped:
                self.send_header(name, value)
        if not any(name.lower() == "content-type" for name, _ in headers):
            self.send_header("Content-Type", "application/json")  # API Gateway's default
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def serve(
    port: int = 3000,
    *,
    template: Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    region: str | None = None,
    run_schedules: bool = False,
    plumbing: Mapping[str, str] | None = None,
) -> tuple[LocalApiServer, threading.Thread]:
    """Start the API on a background thread (``port=0`` picks a free one; see ``server.url``).
    Stop it with ``server.shutdown(); server.server_close()``. ``plumbing`` (table logical id →
    name) also runs the event plumbing over those tables (local/plumbing.py; DynamoDB Local at
    ``$AWS_ENDPOINT_URL_DYNAMODB``), started before this returns."""
    server = LocalApiServer(
        (host, port),
        template or load_template(),
        region=region or os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION),
    )
    thread = threading.Thread(target=server.serve_forever, name="local-api", daemon=True)
    thread.start()
    if run_schedules:
        server.start_scheduler()
    if plumbing is not None:
        server.plumbing = Plumbing(
            server.template,
            server.invoke,
            table_names=plumbing,
            dynamodb_endpoint=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"),
            region=server.region,
        )
        server.plumbing.start()
    return server, thread


# -- environment and main ------------------------------------------------------------------------


def local_table_names(template: Mapping[str, Any], table_name: str) -> dict[str, str]:
    """The first table gets ``table_name``; any other one ``<table_name>-<LogicalId>``."""
    ids = [definition["logical_id"] for definition in table_definitions(template)]
    return {
        logical_id: table_name if i == 0 else f"{table_name}-{logical_id}"
        for i, logical_id in enumerate(ids)
    }


def local_environment(
    template: Mapping[str, Any],
    table_names: Mapping[str, str],
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The union of every function's environment (warns when two disagree), then ``overrides``."""
    environment: dict[str, str] = {}
    targets: list[Route | Schedule] = [*api_routes(template), *schedules(template)]
    function_ids = {target.function_id for target in targets}
    function_ids |= set(all_function_ids(template))  # event plumbing: queue/stream/rule consumers
    for function_id in sorted(function_ids):
        for name, value in function_environment(
            template, function_id, table_names=table_names
        ).items():
            if environment.setdefault(name, value) != value:
                logger.warning(
                    "%s differs between functions; using %r locally", name, environment[name]
                )
    return {**environment, **(overrides or {})}


def aws_environment(dynamodb_endpoint: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """What points boto3 and Powertools at the local stack."""
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def env_vars_file(path: Path, template: Mapping[str, Any]) -> dict[str, str]:
    """Variables of a ``sam local --env-vars`` file: its "Parameters", then each function's."""
    data = json.loads(path.read_text(encoding="utf-8"))
    sections = [data.get("Parameters", {})] + [
        data.get(function_id, {}) for function_id in template["Resources"]
    ]
    return {name: str(value) for section in sections for name, value in section.items()}


def _seed_demo() -> Any:
    """The demo workspace and its connections (local/demo.py)."""
    from local.demo import seed_demo

    return seed_demo()


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not (sep and name):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local.server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=3000, help="API port (default 3000)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--dynamodb-port", type=int, default=8000, help="DynamoDB Local port (default 8000)"
    )
    parser.add_argument("--table-name", default=DEFAULT_TABLE_NAME)
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH)
    parser.add_argument("--env-vars", type=Path, help="variables from a sam local --env-vars file")
    parser.add_argument(
        "--env",
        type=_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a variable for every function (repeatable; wins over --env-vars)",
    )
    parser.add_argument(
        "--no-dynamodb",
        action="store_true",
        help="use the running endpoint in $AWS_ENDPOINT_URL_DYNAMODB",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)  # stop like Ctrl-C, so the cleanup below runs

    template = load_template(args.template)
    try:
        with contextlib.ExitStack() as stack:
            if args.no_dynamodb:
                endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or parser.error(
                    "--no-dynamodb needs AWS_ENDPOINT_URL_DYNAMODB"
                )
            else:
                endpoint = stack.enter_context(DynamoDBLocal(port=args.dynamodb_port)).endpoint
            table_names = local_table_names(template, args.table_name)
            overrides = env_vars_file(args.env_vars, template) if args.env_vars else {}
            overrides |= dict(args.env)
            overrides |= aws_environment(endpoint)
            os.environ.update(local_environment(template, table_names, overrides))
            create_tables(boto3.client("dynamodb"), template, table_names)
            seeded = _seed_demo()
            server, _ = serve(
                args.port, template=template, host=args.host, run_schedules=True,
                plumbing=table_names,
            )  # fmt: skip
            stack.callback(server.server_close)
            stack.callback(server.shutdown)

            print(f"API        {server.url}", flush=True)
            print(f"Docs       {server.url}{SWAGGER_PATH}  ({server.url}{OPENAPI_PATH})")
            for route in server.routes:
                auth = "" if route.auth_none else "  (token)"
                print(f"  {route.method:6} {route.path:28} {route.function_id}{auth}")
            for schedule in server.schedules:
                print(f"  POST   /_local/schedules/{schedule.function_id}  ({schedule.expression})")
            print(f"  GET    {OUTBOX_PATH}?workspace_id={{ws}}  (stored outbox items)")
            if server.plumbing is not None:
                for line in server.plumbing.summary():
                    print(f"  {line}")
            print(f"DynamoDB   {endpoint}  tables: {', '.join(table_names.values())}")
            print(f"Token      {mint_token()}")
            if seeded is not None:
                print(f"Seed       {json.dumps(seeded, indent=2, default=str)}")
            print("Ctrl-C to stop.", flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
