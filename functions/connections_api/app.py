"""The connections API's Lambda handler. Its routes are in ``routes.py``.

Cold start: this module loads boto3 and the logger only; the routes, the models and the services
load on the first invocation (``ticketing.lazy_api``; bench/README.md, section 4).
"""

from __future__ import annotations

import boto3  # noqa: F401 - loaded at init (Lambda's init phase), used by the first request

from ticketing.lazy_api import lazy_api

resolver, __getattr__, lambda_handler = lazy_api(__package__, __name__)
