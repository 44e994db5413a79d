"""An agent API's Lambda handler whose routes load on first use (cold start, bench/README.md §4).

Each agent API (``functions/<name>/app.py``) keeps its routes in ``routes.py`` next to it. At
import the handler module loads boto3 and the logger only; the validating Powertools resolver with
every route, the pydantic models and the services are imported by the first invocation (or the
first read of the module's ``app``), which carries their cost — the bench's ``first request``
figure shows it.

    resolver, __getattr__, lambda_handler = lazy_api(__package__, __name__)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from ticketing.observability import instrument

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lazy_api(
    package: str | None, module_name: str
) -> tuple[Callable[[], APIGatewayRestResolver], Callable[[str], Any], Handler]:
    """(resolver, the module's ``__getattr__``, lambda_handler) of one agent API. ``package`` is
    the handler's ``__package__``: ``functions.<name>`` when imported as a package (tests, the
    local server), empty in Lambda, where ``routes`` is a top-level module next to ``app``."""

    @cache
    def resolver() -> APIGatewayRestResolver:
        routes = importlib.import_module(f"{package}.routes" if package else "routes")
        app: APIGatewayRestResolver = routes.app
        return app

    def module_getattr(name: str) -> Any:
        """``app``: the resolver, built on first access (as the module attribute it used to be)."""
        if name == "app":
            return resolver()
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    @instrument(correlation_id_path="requestContext.requestId", emits_metrics=False)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        answer: dict[str, Any] = resolver().resolve(event, context)
        return answer

    return resolver, module_getattr, lambda_handler
