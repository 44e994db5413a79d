"""Logger, Metrics and a lazily built Tracer shared by every handler.

Constructing a Powertools ``Tracer`` costs ~380 ms of imports even when tracing is off, so it is
built on the first invocation, and only when tracing is enabled: the cold-start import stays lean.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()

__all__ = ["MetricUnit", "instrument", "logger", "metrics"]

Handler = Callable[[dict[str, Any], Any], Any]


def _tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() not in {"1", "true"}


def instrument(
    correlation_id_path: str | None = None, *, emits_metrics: bool = True
) -> Callable[[Handler], Handler]:
    """Structured logging with a correlation id, EMF metrics and (when enabled) X-Ray tracing."""

    def decorate(fn: Handler) -> Handler:
        logged = logger.inject_lambda_context(
            correlation_id_path=correlation_id_path, clear_state=True
        )(fn)
        measured: Handler = metrics.log_metrics(logged) if emits_metrics else logged
        built: list[Handler] = []

        @functools.wraps(fn)
        def handler(event: dict[str, Any], context: Any) -> Any:
            if not built:
                if _tracing_enabled():
                    from aws_lambda_powertools import Tracer

                    built.append(Tracer().capture_lambda_handler(measured))
                else:
                    built.append(measured)
            return built[0](event, context)

        return handler

    return decorate
