"""The committed openapi.json is what the resolvers generate, covers the template's agent API, and
is a well-formed OpenAPI 3.1 document (every reference resolves, errors are ErrorResponse)."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

from local import openapi
from local.template import api_routes, load_template

TEMPLATE = load_template()
AGENT_ROUTES = openapi.agent_routes(TEMPLATE)
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ERROR_STATUSES = {"400", "401", "403", "404", "409", "422"}
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.openapi_document(TEMPLATE)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def resolve(document: dict[str, Any], ref: str) -> Any:
    """A local JSON pointer (``#/a/b``) → the node; KeyError if it does not resolve."""
    assert ref.startswith("#/"), f"not a local reference: {ref}"
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [
            ref
            for key, value in node.items()
            for ref in ([value] if key == "$ref" else refs(value))
        ]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def test_committed_openapi_json_is_the_generated_document(document: dict[str, Any]) -> None:
    # GIVEN the committed openapi.json
    committed = openapi.OPENAPI_PATH.read_text(encoding="utf-8")

    # WHEN it is compared with what the resolvers generate now
    # THEN it is the same document, byte for byte (else: `make openapi` and commit the result)
    assert json.loads(committed) == document, "openapi.json is stale: run `make openapi`"
    assert committed == openapi.render(document), "openapi.json is stale: run `make openapi`"


def test_check_mode_fails_on_a_stale_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, document: dict[str, Any]
) -> None:
    # GIVEN a stale and a fresh copy of the document
    stale = tmp_path / "stale.json"
    stale.write_text("{}\n", encoding="utf-8")
    fresh = tmp_path / "fresh.json"
    fresh.write_text(openapi.render(document), encoding="utf-8")

    # WHEN `python -m local.openapi --check` looks at each
    # THEN only the stale one fails
    monkeypatch.setattr(openapi, "OPENAPI_PATH", stale)
    assert openapi.main(["--check"]) == 1
    monkeypatch.setattr(openapi, "OPENAPI_PATH", fresh)
    assert openapi.main(["--check"]) == 0


def test_every_agent_route_of_the_template_is_documented(document: dict[str, Any]) -> None:
    # GIVEN the template's routes behind the authorizer (all but the webhooks)
    assert AGENT_ROUTES
    assert all(not route.path.startswith("/webhooks") for route in AGENT_ROUTES)
    expected = {(route.path, route.method.lower()) for route in AGENT_ROUTES}

    # WHEN the document's operations are listed
    documented = {(path, method) for path, method, _ in operations(document)}

    # THEN they are exactly the agent routes: none missing, none API Gateway does not route
    assert expected - documented == set(), "routes missing from the spec"
    assert documented - expected == set(), "documented operations the template does not route"
    open_paths = {route.path for route in api_routes(TEMPLATE) if route.auth_none}
    assert open_paths.isdisjoint(document["paths"])


def test_document_is_openapi_3_1_with_title_version_and_server(document: dict[str, Any]) -> None:
    # GIVEN / WHEN the generated document
    # THEN its header is the agent API's
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"] == "Ticket Engine agent API"
    assert document["info"]["version"] == openapi.project_version()
    assert document["servers"] == [{"url": "/"}]
    assert document["paths"]


def test_document_validates_against_the_openapi_meta_schema(document: dict[str, Any]) -> None:
    # GIVEN the generated document
    # WHEN it is checked against OpenAPI 3.1's JSON Schema and Powertools' OpenAPI model
    schemathesis.openapi.from_dict(document).validate()
    OpenAPI.model_validate(document)

    # THEN neither raises, and no operation id is used twice
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))


def test_every_reference_resolves_and_every_schema_is_used(document: dict[str, Any]) -> None:
    # GIVEN every $ref in the document
    found = refs(document)
    assert found

    # WHEN each is resolved
    for ref in found:
        assert isinstance(resolve(document, ref), dict), ref

    # THEN they all resolve, and every component schema is reachable from an operation
    schemas = document["components"]["schemas"]
    assert {ref.rsplit("/", 1)[1] for ref in found} == set(schemas)


@pytest.mark.parametrize(
    ("path", "method"), [(route.path, route.method.lower()) for route in AGENT_ROUTES]
)
def test_each_operation_needs_a_token_and_documents_success_and_errors(
    document: dict[str, Any], path: str, method: str
) -> None:
    # GIVEN an agent API operation
    operation = document["paths"][path][method]
    assert method in METHODS

    # WHEN its security, parameters and responses are read
    security = operation.get("security", document["security"])
    scheme = document["components"]["securitySchemes"][openapi.SECURITY_SCHEME]
    path_params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
    responses = operation["responses"]
    successes = [status for status in responses if status.startswith("2")]

    # THEN it needs the Cognito JWT, declares its path parameters (required),
    assert security == [{openapi.SECURITY_SCHEME: []}]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert path_params == set(re.findall(r"\{(\w+)\}", path))
    assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")
    # documents one success (ticketing.http.responses()) with a body schema, but a 204,
    assert len(successes) == 1, f"{method.upper()} {path}: use responses=responses(...)"
    if successes == ["204"]:
        assert not responses["204"].get("content")
    else:
        assert responses[successes[0]]["content"]["application/json"]["schema"]
    # and answers every error with ErrorResponse
    assert set(responses) >= ERROR_STATUSES
    for status in set(responses) - set(successes):
        assert responses[status]["content"]["application/json"]["schema"] == ERROR_REF, status
