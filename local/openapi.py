"""The agent API's OpenAPI document, generated from the resolvers (dev tooling, never deployed).

    python -m local.openapi            # print it
    python -m local.openapi --write    # rewrite openapi.json at the repo root (`make openapi`)
    python -m local.openapi --check    # exit 1 when the committed openapi.json is stale

The agent API is every template route behind the Cognito authorizer (so not ``/webhooks``). Each
function's resolver (``app`` in its handler module) documents its own routes; Powertools'
``OpenAPIMerge`` joins them under one title, version (pyproject.toml), server ``/`` and a JWT
bearer scheme that every operation requires. Functions never import each other: only this tool
sees them all. tests/contract/test_openapi.py fails when openapi.json is stale.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from local.template import ROOT, Route, api_routes, load_template

OPENAPI_PATH = ROOT / "openapi.json"
TITLE = "Ticket Engine agent API"
DESCRIPTION = (
    "The agent-facing REST API: every route behind API Gateway's Cognito authorizer. Each "
    "operation needs an ID token of the user pool (`Authorization: Bearer <jwt>`); errors are "
    '`{"error": {"code", "message", "details"}}`.'
)
SECURITY_SCHEME = "CognitoJwt"
COMPONENT_PREFIX = "#/components/schemas/"
# ticketing.http answers a body that is not JSON (Content-Type: text/plain ...) with this
UNSUPPORTED_MEDIA_TYPE = {
    "description": "The request body is not application/json",
    "content": {"application/json": {"schema": {"$ref": f"{COMPONENT_PREFIX}ErrorResponse"}}},
}


def project_version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    with pyproject.open("rb") as stream:
        version: str = tomllib.load(stream)["project"]["version"]
    return version


def agent_routes(template: Mapping[str, Any]) -> list[Route]:
    """The template's routes behind the authorizer: the agent API."""
    return [route for route in api_routes(template) if not route.auth_none]


def resolver_module(route: Route) -> str:
    """``functions/ticket_api/`` + ``app.lambda_handler`` → ``functions.ticket_api.app``."""
    module_name = route.handler.rsplit(".", 1)[0]
    return ".".join((*Path(route.code_uri).parts, module_name))


def agent_resolvers(template: Mapping[str, Any]) -> list[APIGatewayRestResolver]:
    """Each agent API function's resolver (its module's ``app``), in template order."""
    modules = dict.fromkeys(resolver_module(route) for route in agent_routes(template))
    resolvers = []
    for name in modules:
        app = getattr(importlib.import_module(name), "app", None)
        if not isinstance(app, APIGatewayRestResolver):
            raise TypeError(f"{name}.app is not an APIGatewayRestResolver")
        resolvers.append(app)
    return resolvers


def _operations(document: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            yield path, method, operation


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _prune_schemas(document: dict[str, Any]) -> None:
    """Drop component schemas nothing uses (Powertools always adds its own validation-error
    models; our 422 answers are ErrorResponse)."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    used: set[str] = set()
    pending = [ref for ref in _refs(document.get("paths", {})) if ref.startswith(COMPONENT_PREFIX)]
    while pending:
        name = pending.pop().removeprefix(COMPONENT_PREFIX)
        if name not in used and name in schemas:
            used.add(name)
            pending.extend(_refs(schemas[name]))
    for name in [name for name in schemas if name not in used]:
        del schemas[name]


def openapi_document(template: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The merged, validated document (a plain JSON-able dict)."""
    template = load_template() if template is None else template
    merge = OpenAPIMerge(
        title=TITLE,
        version=project_version(),
        description=DESCRIPTION,
        security_schemes={
            SECURITY_SCHEME: HTTPBearer(
                bearerFormat="JWT",
                description="A Cognito user pool ID token, checked by API Gateway's Cognito "
                "authorizer; its claims `sub` (agent) and `custom:workspace_id` scope every call. "
                "Locally: `python -m local.auth`.",
            )
        },
        security=[{SECURITY_SCHEME: []}],
        on_conflict="error",
    )
    schemas: dict[str, Any] = {}
    for app in agent_resolvers(template):
        schema = json.loads(app.get_openapi_json_schema())
        for name, definition in schema.get("components", {}).get("schemas", {}).items():
            if schemas.setdefault(name, definition) != definition:
                raise ValueError(f"two resolvers define the schema {name!r} differently")
        merge.add_schema(schema)
    # through Powertools' OpenAPI model: a document it cannot represent fails here
    document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    _prune_schemas(document)
    for path, _, operation in _operations(document):
        # grouped in Swagger UI by the first path segment: tickets, connections, ...
        operation.setdefault("tags", [re.split(r"[/{]", path.strip("/"))[0]])
        if "requestBody" in operation:
            operation["responses"].setdefault("415", UNSUPPORTED_MEDIA_TYPE)
    return document


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.openapi", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {OPENAPI_PATH.name}")
    mode.add_argument("--check", action="store_true", help=f"fail if {OPENAPI_PATH.name} is stale")
    args = parser.parse_args(argv)
    text = render(openapi_document())
    if args.write:
        OPENAPI_PATH.write_text(text, encoding="utf-8")
    elif args.check:
        current = OPENAPI_PATH.read_text(encoding="utf-8") if OPENAPI_PATH.exists() else ""
        if current != text:
            print(f"{OPENAPI_PATH.name} is stale: run `make openapi`", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
