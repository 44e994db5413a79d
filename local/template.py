"""Read template.yaml (the source of truth) for the local stack.

Tables, API routes, schedules, environments and handlers all come from here. CloudFormation short
tags become their long form, as ``cfn-flip`` does: ``!Ref X`` → ``{"Ref": "X"}``,
``!Sub s`` → ``{"Fn::Sub": s}``, ``!GetAtt A.B`` → ``{"Fn::GetAtt": ["A", "B"]}``.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypedDict

import yaml

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
FUNCTION_TYPE = "AWS::Serverless::Function"
TABLE_TYPE = "AWS::DynamoDB::Table"
API_EVENT_TYPES = ("Api", "HttpApi")
SCHEDULE_EVENT_TYPES = ("Schedule", "ScheduleV2")
CRON_INTERVAL_SECONDS = 60  # cron(...) is not evaluated locally: such schedules fire every minute
# The keys of a table's (and of an index's) Properties that create_table takes as they are.
TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput")
INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")

Handler = Callable[[dict[str, Any], Any], Any]


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that also reads CloudFormation short tags (``!Ref``, ``!Sub``, ``!If``, ...)."""


def _short_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}


yaml.add_multi_constructor("!", _short_tag, Loader=CfnLoader)


@dataclass(frozen=True)
class Route:
    method: str  # upper case; "ANY" matches every method
    path: str  # the template path, e.g. "/tickets/{ticket_id}"
    function_id: str
    code_uri: str
    handler: str
    auth_none: bool  # True when API Gateway lets the call through without a token
    event_id: str


@dataclass(frozen=True)
class Schedule:
    function_id: str
    code_uri: str
    handler: str
    expression: str  # "rate(15 minutes)" or "cron(...)"
    interval_seconds: int
    event_id: str
    input: str | None = None  # the event's Input (JSON text), sent instead of a Scheduled Event


# -- event plumbing (local/plumbing.py): what the server needs to call any function ------------
class Invocable(Protocol):
    """A Route, a Schedule or a plumbing FunctionRef: the function the server calls."""

    @property
    def function_id(self) -> str: ...
    @property
    def code_uri(self) -> str: ...
    @property
    def handler(self) -> str: ...


@dataclass(frozen=True)
class FunctionRef:
    function_id: str
    code_uri: str
    handler: str


def function_ref(template: Mapping[str, Any], logical_id: str) -> FunctionRef:
    properties = function_properties(template, logical_id)
    return FunctionRef(logical_id, properties["CodeUri"], properties["Handler"])


def function_ids(template: Mapping[str, Any]) -> list[str]:
    """Every AWS::Serverless::Function of the template."""
    return [logical_id for logical_id, _ in _resources(template, FUNCTION_TYPE)]


class TableDefinition(TypedDict):
    logical_id: str
    create_table_kwargs: dict[str, Any]  # everything but TableName
    ttl_attribute: str | None


def parse_template(source: str | IO[str]) -> dict[str, Any]:
    """A template's YAML text (or stream) as a dict, short tags included."""
    template: dict[str, Any] = yaml.load(source, Loader=CfnLoader)  # noqa: S506 - a SafeLoader
    return template


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        return parse_template(stream)


def _resources(template: Mapping[str, Any], type_: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == type_:
            yield logical_id, resource.get("Properties", {})


def function_properties(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """Its Properties over Globals.Function (top-level keys only; see function_environment)."""
    properties = template["Resources"][logical_id].get("Properties", {})
    return {**template.get("Globals", {}).get("Function", {}), **properties}


def table_definitions(template: Mapping[str, Any]) -> list[TableDefinition]:
    """For each AWS::DynamoDB::Table: create_table kwargs (but TableName) and its TTL attribute."""
    definitions: list[TableDefinition] = []
    for logical_id, properties in _resources(template, TABLE_TYPE):
        kwargs = {key: properties[key] for key in TABLE_KEYS if key in properties}
        for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if indexes in properties:
                kwargs[indexes] = [
                    {key: value for key, value in index.items() if key in INDEX_KEYS}
                    for index in properties[indexes]
                ]
        if "StreamSpecification" in properties:
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                **properties["StreamSpecification"],
            }
        ttl = properties.get("TimeToLiveSpecification", {})
        definitions.append(
            {
                "logical_id": logical_id,
                "create_table_kwargs": kwargs,
                "ttl_attribute": ttl.get("AttributeName") if ttl.get("Enabled") else None,
            }
        )
    return definitions


def create_tables(
    client: DynamoDBClient, template: Mapping[str, Any], names: Mapping[str, str]
) -> None:
    """Create the tables named in ``names`` (logical id → table name), with TTL. Idempotent."""
    for definition in table_definitions(template):
        if (name := names.get(definition["logical_id"])) is None:
            continue
        with contextlib.suppress(client.exceptions.ResourceInUseException):  # already there
            client.create_table(TableName=name, **definition["create_table_kwargs"])
        waiter = client.get_waiter("table_exists")
        waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        if ttl_attribute := definition["ttl_attribute"]:
            ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") in (None, "DISABLED"):
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl_attribute, "Enabled": True},
                )


def _events(
    template: Mapping[str, Any], types: tuple[str, ...]
) -> Iterator[tuple[str, dict[str, Any], str, dict[str, Any]]]:
    """(function id, its merged properties, event id, event properties) for events of ``types``."""
    for function_id, _ in _resources(template, FUNCTION_TYPE):
        properties = function_properties(template, function_id)
        for event_id, event in properties.get("Events", {}).items():
            if event.get("Type") in types:
                yield function_id, properties, event_id, event.get("Properties", {})


def _default_authorizer(template: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    """DefaultAuthorizer of the event's API (RestApiId / ApiId), else of Globals.Api / HttpApi."""
    api = event.get("RestApiId") or event.get("ApiId")
    if isinstance(api, dict) and "Ref" in api:
        auth = template["Resources"].get(api["Ref"], {}).get("Properties", {}).get("Auth", {})
    else:
        globals_ = template.get("Globals", {})
        auth = {
            **globals_.get("Api", {}).get("Auth", {}),
            **globals_.get("HttpApi", {}).get("Auth", {}),
        }
    authorizer: str | None = auth.get("DefaultAuthorizer")
    return authorizer


def api_routes(template: Mapping[str, Any]) -> list[Route]:
    """One Route per Api / HttpApi event. It is open (auth_none) when its Auth.Authorizer is NONE,
    or when it names no authorizer and its API has no DefaultAuthorizer."""
    routes = []
    for function_id, properties, event_id, event in _events(template, API_EVENT_TYPES):
        authorizer = event.get("Auth", {}).get("Authorizer") or _default_authorizer(template, event)
        routes.append(
            Route(
                method=str(event.get("Method", "ANY")).upper(),
                path=event.get("Path", "/{proxy+}"),  # an HttpApi event without Path catches all
                function_id=function_id,
                code_uri=properties["CodeUri"],
                handler=properties["Handler"],
                auth_none=authorizer in (None, "NONE"),
                event_id=event_id,
            )
        )
    return routes


_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def interval_seconds(expression: str) -> int:
    """``rate(N unit)`` in seconds; ``cron(...)`` → CRON_INTERVAL_SECONDS (never evaluated)."""
    if match := _RATE.fullmatch(expression.strip()):
        return int(match[1]) * _UNIT_SECONDS[match[2].rstrip("s")]
    if expression.strip().startswith("cron("):
        return CRON_INTERVAL_SECONDS
    raise ValueError(f"unsupported schedule expression: {expression!r}")


def schedules(template: Mapping[str, Any]) -> list[Schedule]:
    """One Schedule per Schedule / ScheduleV2 event."""
    found = []
    for function_id, properties, event_id, event in _events(template, SCHEDULE_EVENT_TYPES):
        expression = event.get("Schedule") or event["ScheduleExpression"]  # V1 or V2
        found.append(
            Schedule(
                function_id=function_id,
                code_uri=properties["CodeUri"],
                handler=properties["Handler"],
                expression=expression,
                interval_seconds=interval_seconds(expression),
                event_id=event_id,
                input=event.get("Input"),
            )
        )
    return found


def _resolve(template: Mapping[str, Any], value: Any, tables: Mapping[str, str]) -> str | None:
    """A literal, a !Ref to a table (→ its local name) or a Parameter (→ its Default); or None."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        ref = value["Ref"]
        if ref in tables:
            return tables[ref]
        parameter = template.get("Parameters", {}).get(ref, {})
        if "Default" in parameter:
            return str(parameter["Default"])
    return None


def _variables(section: Mapping[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = section.get("Environment", {}).get("Variables", {})
    return variables


def function_environment(
    template: Mapping[str, Any],
    logical_id: str,
    overrides: Mapping[str, str] | None = None,
    table_names: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Globals.Function.Environment.Variables merged with the function's own, resolved for local
    use (see _resolve; what cannot be resolved is left out), then ``overrides``."""
    global_vars = _variables(template.get("Globals", {}).get("Function", {}))
    own_vars = _variables(template["Resources"][logical_id].get("Properties", {}))
    environment = {}
    for name, value in {**global_vars, **own_vars}.items():
        if (resolved := _resolve(template, value, table_names or {})) is not None:
            environment[name] = resolved
    return {**environment, **(overrides or {})}


def load_handler(code_uri: str, handler: str) -> Handler:
    """``functions/ticket_api/`` and ``app.lambda_handler`` → ``functions.ticket_api.app``'s
    ``lambda_handler``, imported (once) like any module."""
    module_name, attribute = handler.rsplit(".", 1)
    module = importlib.import_module(".".join((*Path(code_uri).parts, module_name)))
    function: Handler = getattr(module, attribute)
    return function
