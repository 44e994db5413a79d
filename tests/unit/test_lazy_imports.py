"""Cold start: importing a handler loads boto3, the logger and the routing, not its requests' needs.

Each check imports the handler in a fresh interpreter and lists the heavy packages it loaded
(outcomes, not timings; bench/README.md section 4 has the figures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# imported on first use: the models (pydantic), the services, the repository, the channels
DEFERRED = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "ticketing.config",
    "ticketing.models",
    "ticketing.repository",
    "ticketing.services",
    "ticketing.channels",
    "ticketing.secrets",
    "aws_xray_sdk",  # the Tracer is built by the first invocation, when tracing is on
    "aws_lambda_powertools.event_handler.openapi.params",
    "aws_lambda_powertools.utilities.parameters",
)
HANDLERS = (
    "webhook_ingest",
    "ticket_api",
    "comments_api",
    "connections_api",
    "reviews_api",
    "outbox_sender",
    "auto_close",
    "ticket_views",
    "ticket_analytics",
    "reviews_pull",
)


def loaded_after_import(module: str) -> set[str]:
    """The modules a fresh interpreter holds after ``import module`` (the handlers' env)."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'ticketing'}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": "ticket-engine-imports",
        "POWERTOOLS_SERVICE_NAME": "ticket-engine-test",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == d or m.startswith(f"{d}.") for d in DEFERRED))


@pytest.mark.parametrize("function", HANDLERS)
def test_handler_import_defers_models_services_and_repository(function):
    # GIVEN a fresh interpreter
    # WHEN a handler module is imported (what Lambda's init phase does)
    loaded = loaded_after_import(f"functions.{function}.app")
    # THEN boto3 and the logger are loaded, and nothing a request imports on first use
    assert {"boto3", "aws_lambda_powertools.logging.logger"} <= loaded
    assert heavy(loaded) == []


def test_webhook_handler_import_loads_its_router_but_not_the_outbound_http_client():
    # GIVEN a fresh interpreter
    # WHEN the webhook handler is imported
    loaded = loaded_after_import("functions.webhook_ingest.app")
    # THEN its Powertools resolver is ready, and no channel sender (outbound HTTP) is loaded
    assert "aws_lambda_powertools.event_handler.api_gateway" in loaded
    assert not [m for m in loaded if m.startswith("ticketing.channels")]


def test_api_handler_builds_its_resolver_on_first_use():
    # GIVEN a fresh interpreter that imported the agent API handler
    # WHEN its ``app`` is read (as the first invocation does)
    code = (
        "import sys; import functions.ticket_api.app as handler; "
        "before = 'pydantic' in sys.modules; app = handler.app; "
        "print(before, 'pydantic' in sys.modules, type(app).__name__, "
        "len(app._static_routes) + len(app._dynamic_routes) > 10)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'ticketing'}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    # THEN the validating resolver with every route is built then, not at import
    assert done.stdout.split() == ["False", "True", "APIGatewayRestResolver", "True"]
