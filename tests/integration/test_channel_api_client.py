"""The channels' HTTP client against a local fake server: timeouts, what is retried and what is
not (a POST that may have reached the channel never is), Retry-After, JSON and error bodies."""

from __future__ import annotations

import json
import socket
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ticketing.channels.api_client import ApiClient
from ticketing.errors import ChannelApiConnectionError, ChannelApiTimeoutError

pytestmark = pytest.mark.integration


def client(server: HTTPServer, **kwargs: float) -> ApiClient:
    return ApiClient(server.url_for("/api"), backoff_factor=0.0, **kwargs)  # type: ignore[arg-type]


def test_json_round_trip_and_headers(httpserver: HTTPServer):
    httpserver.expect_request("/api/v1/things", method="POST", json={"a": "é"}).respond_with_json(
        {"ok": True}, headers={"X-Request-Id": "r1"}
    )
    answer = client(httpserver).request(
        "POST", "/v1/things", params={"q": "x y"}, json={"a": "é"}, headers={"X-T": "1"}
    )
    assert (answer.status, answer.body, answer.headers["x-request-id"]) == (200, {"ok": True}, "r1")
    request = httpserver.log[0][0]
    assert request.args["q"] == "x y"
    assert request.headers["X-T"] == "1"


def test_get_is_retried_on_503_but_post_is_not(httpserver: HTTPServer):
    # GIVEN a server answering 503 once, then 200, for GET and for POST
    for method in ("GET", "POST"):
        httpserver.expect_ordered_request("/api/r", method=method).respond_with_data("busy", 503)
        httpserver.expect_ordered_request("/api/r", method=method).respond_with_json({"n": 2})
    api = client(httpserver)
    # WHEN each is called once
    got = api.request("GET", "/r")
    posted = api.request("POST", "/r", json={})
    # THEN the GET was retried into a 200; the POST's 503 is handed back untouched
    assert got.status == 200
    assert (posted.status, posted.body) == (503, "busy")


def test_long_retry_after_is_not_slept(httpserver: HTTPServer):
    httpserver.expect_request("/api/slow").respond_with_json(
        {"error": "rate"}, status=429, headers={"Retry-After": "60"}
    )
    started = time.monotonic()
    answer = client(httpserver).request("GET", "/slow")
    assert answer.status == 429
    assert answer.retry_after == 60.0
    assert time.monotonic() - started < 5
    assert len(httpserver.log) == 1


def test_short_retry_after_is_honoured_for_idempotent_calls(httpserver: HTTPServer):
    httpserver.expect_ordered_request("/api/x").respond_with_json(
        {}, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request("/api/x").respond_with_json({"done": True})
    started = time.monotonic()
    answer = client(httpserver).request("GET", "/x")
    assert answer.body == {"done": True}
    assert time.monotonic() - started >= 0.9


def test_read_timeout_on_post_may_have_delivered(httpserver: HTTPServer):
    def slow(request: Request) -> Response:
        time.sleep(0.8)
        return Response(json.dumps({}), 200)

    httpserver.expect_request("/api/send").respond_with_handler(slow)
    with pytest.raises(ChannelApiTimeoutError) as caught:
        client(httpserver, timeout=0.3).request("POST", "/send", json={"text": "hi"})
    assert caught.value.maybe_delivered is True
    assert caught.value.details == {
        "method": "POST",
        "host": caught.value.details["host"],
        "path": "/api/send",
    }
    time.sleep(0.8)
    assert len(httpserver.log) == 1  # not repeated


def test_refused_connection_was_not_delivered():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = ApiClient(f"http://127.0.0.1:{port}", retries=1, backoff_factor=0.0)
    with pytest.raises(ChannelApiConnectionError) as caught:
        api.request("POST", "/send", params={"access_token": "SECRET"}, json={})
    assert caught.value.maybe_delivered is False
    assert "SECRET" not in str(caught.value.details)  # the query (tokens) is never reported
