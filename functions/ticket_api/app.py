"""The agent API's Lambda handler. Its routes are in ``routes.py``.

Cold start (goal: import time at most 1.5 times ``import boto3``): this module loads boto3 and
the logger only; the routes, the models and the services load on the first invocation
(``ticketing.lazy_api``; bench/README.md, section 4: ``first request``).
"""

from __future__ import annotations

import boto3  # noqa: F401 - loaded at init (Lambda's init phase), used by the first request

from ticketing.clock import utc_now
from ticketing.lazy_api import lazy_api

# utc_now: the routes' clock (routes.utc_now reads it from here per call; tests pin it here)
__all__ = ["lambda_handler", "resolver", "utc_now"]

resolver, __getattr__, lambda_handler = lazy_api(__package__, __name__)
