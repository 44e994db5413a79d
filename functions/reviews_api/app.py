"""The reviews API's Lambda handler. Its routes are in ``routes.py``.

Cold start: this module loads boto3 and the logger only. The validating Powertools resolver with
its routes, the pydantic models and the services are imported on the first invocation (or the
first read of ``app``), which carries their cost (bench/README.md, section 4).
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3  # noqa: F401 - loaded at init (Lambda's init phase), used by the first request

from ticketing.observability import instrument

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def resolver() -> APIGatewayRestResolver:
    """The resolver with every route (``routes.py``), imported once, on first use."""
    routes = importlib.import_module(f"{__package__}.routes" if __package__ else "routes")
    app: APIGatewayRestResolver = routes.app
    return app


def __getattr__(name: str) -> Any:
    """``app``: the resolver, built on first access (as the module attribute it used to be)."""
    if name == "app":
        return resolver()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@instrument(correlation_id_path="requestContext.requestId", emits_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolver().resolve(event, context)
