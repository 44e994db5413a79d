"""template.yaml vs the code: handlers, layer, runtime, environment, table keys and API routes."""

import importlib
import json
import re
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from local.template import (
    api_routes,
    function_environment,
    function_properties,
    load_template,
    table_definitions,
)
from tests.helpers import FakeLambdaContext
from ticketing.config import Settings, get_settings
from ticketing.repository import keys

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = sorted(
    name for name, res in RESOURCES.items() if res["Type"] == "AWS::Serverless::Function"
)
ROUTES = api_routes(TEMPLATE)
RUNTIME = "python3.11"
LAYER_ID = "TicketingLayer"
SETTINGS_ALIASES = {f.alias for f in Settings.model_fields.values() if f.alias}
REQUIRED_SETTINGS = {f.alias for f in Settings.model_fields.values() if f.is_required()}
# Variables read by libraries, not by Settings
LIBRARY_ENV_PREFIXES = ("POWERTOOLS_", "AWS_")


def module_of(code_uri: str) -> str:
    """functions/ticket_api/ → functions.ticket_api"""
    match = re.fullmatch(r"functions/([a-z][a-z0-9_]*)/?", code_uri)
    assert match, f"CodeUri {code_uri!r} is not functions/<name>/"
    return f"functions.{match[1]}"


def test_template_has_functions_and_routes():
    # GIVEN the template
    # WHEN its functions and API routes are listed
    # THEN there is something to check (a broken loader cannot pass the suite vacuously)
    assert FUNCTIONS
    assert ROUTES


# ---------------------------------------------------------------------------- functions
@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_function_code_and_handler_exist(function_id):
    # GIVEN a function of the template
    props = function_properties(TEMPLATE, function_id)
    package = module_of(props["CodeUri"])
    module_name, attribute = props["Handler"].rsplit(".", 1)
    # WHEN its handler module is imported as pytest and `sam build` see it
    assert (ROOT / props["CodeUri"] / f"{module_name}.py").is_file()
    assert (ROOT / props["CodeUri"] / "__init__.py").is_file()
    module = importlib.import_module(f"{package}.{module_name}")
    # THEN the Handler attribute is a callable
    assert callable(getattr(module, attribute, None)), props["Handler"]


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_function_uses_the_ticketing_layer(function_id):
    # GIVEN a function (Globals merged in)
    # WHEN its layers are read
    layers = function_properties(TEMPLATE, function_id).get("Layers", [])
    # THEN the ticketing layer is one of them
    assert {"Ref": LAYER_ID} in layers


def test_layer_comes_from_globals():
    # GIVEN Globals.Function
    # WHEN its layers are read
    # THEN every function gets the ticketing layer from there, and none overrides Layers
    assert TEMPLATE["Globals"]["Function"]["Layers"] == [{"Ref": LAYER_ID}]
    overriding = [f for f in FUNCTIONS if "Layers" in RESOURCES[f].get("Properties", {})]
    assert overriding == []


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_function_runtime(function_id):
    # GIVEN a function (Globals merged in)
    # WHEN its runtime is read
    # THEN it is python3.11, as the layer and our machines
    assert function_properties(TEMPLATE, function_id)["Runtime"] == RUNTIME


# ---------------------------------------------------------------------------- layer
def test_layer_build():
    # GIVEN the ticketing layer
    layer = RESOURCES[LAYER_ID]
    props = layer["Properties"]
    # WHEN its build settings are read
    # THEN SAM builds it from layers/ticketing for python3.11, with the package at the root
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert props["ContentUri"].rstrip("/") == "layers/ticketing"
    assert layer["Metadata"]["BuildMethod"] == RUNTIME
    assert props["CompatibleRuntimes"] == [RUNTIME]
    assert (ROOT / "layers/ticketing/ticketing/__init__.py").is_file()
    assert not (ROOT / "layers/ticketing/python").exists()  # would land in /opt/python/python


PINNED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[a-z0-9,_-]+\])?==[0-9][^\s;=<>!~,]*")


def requirements() -> list[str]:
    lines = (ROOT / "layers/ticketing/requirements.txt").read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def test_layer_requirements_are_pinned():
    # GIVEN the layer's requirements.txt
    found = requirements()
    # WHEN each requirement is read
    # THEN each is pinned exactly with ==
    assert found
    for line in found:
        assert re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[a-z0-9,_-]+\])?==[0-9][^\s;=<>!~]*", line
        ), line


@pytest.mark.parametrize("line", requirements())
def test_tests_run_against_the_pinned_versions(line):
    # GIVEN a pinned runtime dependency of the layer
    name, version = re.sub(r"\[.*\]", "", line).split("==")
    # WHEN the installed version is read
    # THEN the tests exercise exactly what is deployed
    assert metadata.version(name) == version


# ---------------------------------------------------------------------------- environment
def template_variables(function_id: str) -> dict[str, Any]:
    globals_env = TEMPLATE["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    own = RESOURCES[function_id]["Properties"].get("Environment", {}).get("Variables", {})
    return {**globals_env, **own}


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_environment_names_match_settings(function_id):
    # GIVEN a function's environment variables (Globals merged in)
    names = set(template_variables(function_id))
    # WHEN compared with the aliases Settings reads
    unknown = {n for n in names - SETTINGS_ALIASES if not n.startswith(LIBRARY_ENV_PREFIXES)}
    # THEN every variable is one Settings (or a library) reads, and the required ones are set
    assert unknown == set(), f"not read by Settings (typo?): {sorted(unknown)}"
    assert names >= REQUIRED_SETTINGS
    assert "TABLE_NAME" in names


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_template_environment_validates_as_settings(function_id):
    # GIVEN a function's environment as the local stack resolves it (parameters' defaults)
    environment = function_environment(
        TEMPLATE, function_id, table_names={"TicketTable": "ticket-engine-dev"}
    )
    # WHEN Settings reads it
    settings = Settings.model_validate(environment)
    # THEN it validates, with the table from the template's !Ref
    assert settings.table_name == "ticket-engine-dev"


def test_table_name_refers_to_the_table():
    # GIVEN Globals' TABLE_NAME
    # WHEN read
    # THEN it is the table of the template
    ref = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["TABLE_NAME"]
    assert ref == {"Ref": "TicketTable"}
    assert RESOURCES["TicketTable"]["Type"] == "AWS::DynamoDB::Table"


# ---------------------------------------------------------------------------- table
def the_table() -> dict[str, Any]:
    (table,) = table_definitions(TEMPLATE)
    return table


def key_schema(schema: list[dict[str, str]]) -> tuple[str, ...]:
    by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
    assert len(by_type) == len(schema)
    return (by_type["HASH"], by_type["RANGE"])


def test_table_keys_match_keys_py():
    # GIVEN the table's definition
    kwargs = the_table()["create_table_kwargs"]
    # WHEN its key schema is read
    # THEN it is keys.PK / keys.SK
    assert key_schema(kwargs["KeySchema"]) == (keys.PK, keys.SK)


def test_indexes_match_keys_py():
    # GIVEN the table's global secondary indexes
    indexes = the_table()["create_table_kwargs"]["GlobalSecondaryIndexes"]
    # WHEN their names and keys are read
    found = {i["IndexName"]: key_schema(i["KeySchema"]) for i in indexes}
    # THEN they are keys.INDEX_KEYS, and every query reads whole items (projection ALL)
    assert found == {name: tuple(k) for name, k in keys.INDEX_KEYS.items()}
    assert keys.GSI1 in found
    assert keys.GSI2 in found
    assert all(i["Projection"] == {"ProjectionType": "ALL"} for i in indexes)


def test_attribute_definitions_are_exactly_the_key_strings():
    # GIVEN the table's attribute definitions
    definitions = the_table()["create_table_kwargs"]["AttributeDefinitions"]
    # WHEN compared with every key attribute
    expected = {keys.PK, keys.SK} | {a for pair in keys.INDEX_KEYS.values() for a in pair}
    # THEN each key attribute is declared once, as a string
    assert sorted(d["AttributeName"] for d in definitions) == sorted(expected)
    assert {d["AttributeType"] for d in definitions} == {"S"}


def test_ttl_attribute_matches_keys_py():
    # GIVEN the table's TTL specification
    # WHEN read
    # THEN it is enabled on keys.TTL_ATTRIBUTE
    assert the_table()["ttl_attribute"] == keys.TTL_ATTRIBUTE


# ---------------------------------------------------------------------------- routes
RESOLVER_MODULES = {"functions/ticket_api/": "functions.ticket_api.app"}
RESOLVER_MODULES["functions/webhook_ingest/"] = "functions.webhook_ingest.app"
RESOLVER_MODULES["functions/connections_api/"] = "functions.connections_api.app"
RESOLVER_MODULES["functions/reviews_api/"] = "functions.reviews_api.app"
RESOLVER_MODULES["functions/comments_api/"] = "functions.comments_api.app"
SAMPLE_PATH_VALUES = {"channel": "line", "ticket_id": "t_contract"}
# What a matched route answers to a bare request: the handshake refuses (no verify token), an
# empty webhook body is malformed, the agent API wants credentials.
EXPECTED_OFFLINE_STATUS = {
    ("GET", "/webhooks/{channel}"): {403},
    ("POST", "/webhooks/{channel}"): {400},
    ("GET", "/tickets"): {401},
    ("GET", "/tickets/{ticket_id}"): {401},
    ("GET", "/connections"): {401},
    ("POST", "/connections"): {422},
    ("GET", "/connections/{channel}/{account_id}"): {401},
    ("PATCH", "/connections/{channel}/{account_id}"): {422},
    ("DELETE", "/connections/{channel}/{account_id}"): {401},
}


def resolver_routes(module_name: str) -> set[tuple[str, str]]:
    """(METHOD, template-style path) of every route the module's resolver registered."""
    app = importlib.import_module(module_name).app
    routes = [*app._static_routes, *app._dynamic_routes]
    return {(r.method.upper(), re.sub(r"<(\w+)>", r"{\1}", r.path)) for r in routes}


def template_routes(code_uri: str) -> set[tuple[str, str]]:
    return {(r.method, r.path) for r in ROUTES if r.code_uri.rstrip("/") + "/" == code_uri}


def minimal_event(method: str, resource: str) -> dict[str, Any]:
    names = re.findall(r"{(\w+)}", resource)
    params = {n: SAMPLE_PATH_VALUES.get(n, "x") for n in names}
    path = re.sub(r"{(\w+)}", lambda m: params[m[1]], resource)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": path,
            "stage": "contract",
            "requestId": "contract-request",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.fixture
def offline_handlers(monkeypatch):
    """Handlers that can run without AWS: settings from a fake env, no repository."""
    import functions.webhook_ingest.app as ingest

    monkeypatch.setenv("TABLE_NAME", "ticket-engine-contract")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("META_VERIFY_TOKEN_REF", raising=False)
    # a malformed body is kept for inspection: the only repository call this suite reaches
    kept = SimpleNamespace(keep_rejected_request=lambda request: None)
    monkeypatch.setattr(ingest, "get_repository", lambda: kept)
    get_settings.cache_clear()
    ingest.connections.cache_clear()
    yield
    get_settings.cache_clear()
    ingest.connections.cache_clear()


def test_every_template_route_has_a_resolver_module():
    # GIVEN the template's API routes
    # WHEN their functions are listed
    # THEN each one is a function whose resolver this suite checks
    assert {r.code_uri.rstrip("/") + "/" for r in ROUTES} <= set(RESOLVER_MODULES)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize(
    "route", ROUTES, ids=[f"{r.function_id}:{r.method} {r.path}" for r in ROUTES]
)
def test_template_route_is_served(route, offline_handlers):
    # GIVEN an API route of the template and the handler its function names
    module = importlib.import_module(RESOLVER_MODULES[route.code_uri.rstrip("/") + "/"])
    handler = getattr(module, route.handler.rsplit(".", 1)[1])
    # WHEN a minimal request for it is handled (no body, no credentials)
    response = handler(minimal_event(route.method, route.path), FakeLambdaContext())
    # THEN the resolver matched a route: whatever it answers, it is not "no such route"
    body = json.loads(response["body"]) if response["body"].startswith("{") else {}
    assert body.get("error", {}).get("message") != "no such route", response
    if expected := EXPECTED_OFFLINE_STATUS.get((route.method, route.path)):
        assert response["statusCode"] in expected, response


def test_unknown_route_is_the_resolvers_404(offline_handlers):
    # GIVEN a path no resolver serves (the check above must be able to fail)
    from functions.ticket_api.app import lambda_handler

    # WHEN it is handled
    response = lambda_handler(minimal_event("GET", "/nope"), FakeLambdaContext())
    # THEN the resolver answers its own 404
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"]["message"] == "no such route"


@pytest.mark.parametrize("code_uri", sorted(RESOLVER_MODULES))
def test_every_resolver_route_is_in_the_template(code_uri):
    # GIVEN the routes a function's resolver registers
    served = resolver_routes(RESOLVER_MODULES[code_uri])
    # WHEN compared with the template's routes for that function
    declared = template_routes(code_uri)
    # THEN they are the same set: nothing unreachable, nothing missing
    assert served
    assert served == declared
