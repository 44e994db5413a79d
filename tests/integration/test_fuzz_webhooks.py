"""Every webhook parser fuzzed through the real handler (issue 7, "Reliability"; hypothesis).

For each channel, bodies that are malformed (not JSON, or JSON of no particular shape), truncated
valid samples (``local.demo.sample_events()``), valid samples with fields replaced by values of
another JSON type or by extreme values of their own type, and oversized bodies (the limit lowered
through ``MAX_WEBHOOK_BODY_BYTES``). Each body is sent with a VALID signature for its exact bytes
(the demo secret; Shopee over the connection's callback URL, Lazada over app key + body), to a
channel account connected to a fresh workspace, so a body that parses reaches the signature
check and everything after it.

The answer is always a 4xx with the error shape ``{"error": {"code", "message", "details"}}``, or a
200 when the fuzzed body is still a valid payload (then it may be stored) — never a 5xx; and after
any non-200 answer nothing is stored in that workspace (no ticket, no ticket number taken; after
each test, a Scan finds no item under any of its refused workspaces' keys).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.webhook_ingest.app import lambda_handler as ingest_handler
from local import demo
from tests.helpers import FakeLambdaContext, unique
from ticketing.config import get_settings
from ticketing.repository import keys
from ticketing.repository.dynamodb import dynamodb_client, get_repository

pytestmark = pytest.mark.integration

CHANNELS = ["messenger", "line", "whatsapp", "instagram", "shopee", "lazada"]
META = {"messenger", "whatsapp", "instagram"}  # X-Hub-Signature-256, ASCII-escaped JSON
SMALL_LIMIT = 2048  # bytes, for the oversized bodies


# ---------------------------------------------------------------------------- samples
def _demo_account(channel: str) -> str:
    return demo.DEMO_ACCOUNTS[channel][0]


def _new_account(channel: str) -> str:
    """A fresh account id shaped like the channel's (digits where JSON may carry a number)."""
    if channel == "line":
        return "U" + secrets.token_hex(16)
    digits = len(_demo_account(channel))
    return str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))


def samples(channel: str) -> list[str]:
    """The channel's signed sample bodies (valid payloads), as text."""
    return [
        event["body"]
        for name, event in sorted(demo.sample_events().items())
        if name.startswith(f"webhook_{channel}_")
        and event["httpMethod"] == "POST"
        and "bad_signature" not in name
    ]


def encode(channel: str, payload: Any) -> bytes:
    return demo.meta_json(payload) if channel in META else demo.compact_json(payload)


def signed_headers(channel: str, raw: bytes) -> dict[str, str]:
    secret = demo.demo_secret(channel)
    if channel in META:
        return {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": demo.sign_messenger(raw, secret),
        }
    if channel == "line":
        return {"Content-Type": "application/json", "x-line-signature": demo.sign_line(raw, secret)}
    if channel == "shopee":
        return {"Content-Type": "application/json", "Authorization": demo.sign_shopee(raw, secret)}
    return {"Content-Type": "application/json", "Authorization": demo.sign_lazada(raw, secret)}


def webhook_event(channel: str, raw: bytes) -> dict[str, Any]:
    """The API Gateway event for these exact bytes, validly signed (base64 when not UTF-8, as
    API Gateway does for binary bodies)."""
    try:
        event = demo.webhook_post(channel, raw, signed_headers(channel, raw))
    except UnicodeDecodeError:
        event = demo.webhook_post(channel, b"", signed_headers(channel, raw))
        event["body"] = base64.b64encode(raw).decode()
        event["isBase64Encoded"] = True
    return event


# ---------------------------------------------------------------------------- the harness
@dataclass
class Fuzzer:
    """Posts fuzzed bodies for one channel to an account connected to a workspace of its own;
    after a 200 (which may have stored something) the next body goes to a fresh one."""

    channel: str
    prefix: str = field(default_factory=lambda: unique("ws-fz-") + "-")
    refused: set[str] = field(default_factory=set)
    answers: dict[int, int] = field(default_factory=dict)
    current: tuple[str, str] | None = None

    def connect(self) -> tuple[str, str]:
        """The current workspace and account, or a fresh pair (demo secret and options)."""
        if self.current is None:
            workspace_id = self.prefix + secrets.token_hex(4)
            account_id = _new_account(self.channel)
            get_repository().put_connection(
                demo.channel_connection(self.channel, account_id, workspace_id)
            )
            self.current = (workspace_id, account_id)
        return self.current

    def post(self, make_body: Callable[[str], bytes], *, allowed: set[int]) -> tuple[int, Any, str]:
        """Post ``make_body(account_id)`` and check the answer; returns (status, body, ws)."""
        workspace_id, account_id = self.connect()
        raw = make_body(account_id)
        response = ingest_handler(webhook_event(self.channel, raw), FakeLambdaContext())
        status: int = response["statusCode"]
        self.answers[status] = self.answers.get(status, 0) + 1
        text = response["body"] or ""
        assert status < 500, f"{status} for {raw[:300]!r}: {text}"
        assert status in allowed, f"{status} for {raw[:300]!r}: {text}"
        body: Any = json.loads(text) if text else None
        if status == 200:
            assert body is None if self.channel == "shopee" else "received" in body
            self.current = None  # it may have stored something: the next body gets a new one
            self.refused.discard(workspace_id)
        else:
            assert set(body) == {"error"}, body
            error = body["error"]
            assert set(error) == {"code", "message", "details"}, error
            assert isinstance(error["code"], str)
            assert error["code"]
            assert isinstance(error["message"], str)
            assert error["message"]
            assert isinstance(error["details"], dict)
            self.refused.add(workspace_id)
            assert_no_ticket_number_taken(workspace_id)
        return status, body, workspace_id

    def assert_refused_workspaces_empty(self) -> None:
        """One Scan for this test's workspaces: no item at all under the keys of a workspace
        that only ever got refusals (contacts, conversations, tickets, messages, history)."""
        client, table = dynamodb_client(), get_repository().table_name
        kwargs: dict[str, Any] = {
            "TableName": table,
            "FilterExpression": "begins_with(pk, :p)",
            "ExpressionAttributeValues": {":p": {"S": keys.ws(self.prefix)}},
            "ProjectionExpression": "pk",
        }
        found: set[str] = set()
        while True:
            page = client.scan(**kwargs)
            found.update(item["pk"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        refused = {keys.ws(w) for w in self.refused}
        leaked = {pk for pk in found if "#".join(pk.split("#", 2)[:2]) in refused}
        assert not leaked, leaked


def assert_no_ticket_number_taken(workspace_id: str) -> None:
    """Every stored customer message comes with a ticket, and a workspace's first ticket takes a
    number from its counter (the workspace item, absent until then): no item, nothing stored.
    (The Scan after the test checks every other key of the workspace.)"""
    repo = get_repository()
    workspace = repo.client.get_item(
        TableName=repo.table_name,
        Key={k: {"S": v} for k, v in keys.workspace_key(workspace_id).items()},
        ConsistentRead=True,
    )
    assert "Item" not in workspace, workspace["Item"]


@pytest.fixture
def fuzzer(app_env: None, request: pytest.FixtureRequest) -> Iterator[Fuzzer]:
    harness = Fuzzer(request.node.callspec.params["channel"])
    yield harness
    harness.assert_refused_workspaces_empty()


FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------- strategies
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
EXTREME_INTS = [-1, 0, 1, 2**31, 2**63, 10**13, 10**16, 10**20, -(10**16), 253_402_300_800_000]
EXTREME_TEXTS = ["", " ", "0", "-1", "9" * 40, "x" * 3000, "\x00", "🙏" * 10, "null", "{}"]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def replacement_for(old: Any) -> st.SearchStrategy[Any]:
    """A value of another JSON type, or an extreme value of the same type."""
    other = JSON_VALUES.filter(lambda v: _kind(v) != _kind(old))
    if _kind(old) == "number":
        return st.one_of(other, st.sampled_from(EXTREME_INTS))
    if isinstance(old, str):
        return st.one_of(other, st.sampled_from(EXTREME_TEXTS))
    return other


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in children:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


@st.composite
def mutated_sample(draw: st.DrawFn, channel: str) -> Callable[[str], bytes]:
    """A sample payload with 1-3 fields replaced (by path), for a given account."""
    text = draw(st.sampled_from(samples(channel)), label="sample")
    payload = json.loads(text)
    changes: list[tuple[tuple[Any, ...], Any]] = []
    for _ in range(draw(st.integers(1, 3), label="changes")):
        paths = list(_paths(payload))
        path = draw(st.sampled_from(paths), label="path")
        value = draw(replacement_for(_get(payload, path)), label="value")
        _set(payload, path, value)
        changes.append((path, value))
    mutated = json.dumps(payload, ensure_ascii=False)

    def build(account_id: str) -> bytes:
        return encode(channel, json.loads(mutated.replace(_demo_account(channel), account_id)))

    return build


# strings no channel sends, but that a key built from them would not survive: DynamoDB keys
# hold at most 2048 bytes (partition) / 1024 bytes (sort)
LONG_TEXTS = ["x" * 3000, "ก" * 700, "🙏" * 600, "", " ", "#", "a#b"]


@st.composite
def sample_with_extreme_strings(draw: st.DrawFn, channel: str) -> Callable[[str], bytes]:
    """A sample payload with 1-3 of its string fields (ids among them) replaced by LONG_TEXTS."""
    text = draw(st.sampled_from(samples(channel)), label="sample")
    payload = json.loads(text)
    strings = [p for p in _paths(payload) if isinstance(_get(payload, p), str)]
    for path in draw(st.lists(st.sampled_from(strings), min_size=1, max_size=3), label="paths"):
        _set(payload, path, draw(st.sampled_from(LONG_TEXTS), label="value"))
    mutated = json.dumps(payload, ensure_ascii=False)

    def build(account_id: str) -> bytes:
        return encode(channel, json.loads(mutated.replace(_demo_account(channel), account_id)))

    return build


# ---------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("channel", CHANNELS)
def test_malformed_bodies_are_400_never_5xx(fuzzer, channel):
    # GIVEN bodies that are not JSON, or JSON of no webhook's shape, validly signed
    bodies = st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(str.encode),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.sampled_from([b"", b"{", b"[]", b"null", b"{}", b'""', b"\xef\xbb\xbf{}", b"{}{}"]),
    )

    @settings(FUZZ, max_examples=25)
    @given(raw=bodies)
    def check(raw: bytes) -> None:
        # WHEN one is posted; THEN 400 (200 only if it happens to be a valid payload)
        status, body, _ = fuzzer.post(lambda account_id: raw, allowed={200, 400})
        if status == 400:
            assert body["error"]["code"] == "malformed_payload"

    check()


@pytest.mark.parametrize("channel", CHANNELS)
def test_truncated_samples_are_400_never_5xx(fuzzer, channel):
    # GIVEN valid signed samples cut short at any byte (multi-byte characters included)
    @settings(FUZZ, max_examples=15)
    @given(text=st.sampled_from(samples(channel)), cut=st.floats(0, 1, exclude_max=True))
    def check(text: str, cut: float) -> None:
        def build(account_id: str) -> bytes:
            raw = encode(channel, json.loads(text.replace(_demo_account(channel), account_id)))
            return raw[: int(len(raw) * cut)]

        # WHEN it is posted; THEN 400 malformed_payload, nothing stored
        _, body, _ = fuzzer.post(build, allowed={400})
        assert body["error"]["code"] == "malformed_payload"

    check()


@pytest.mark.parametrize("channel", CHANNELS)
def test_wrongly_typed_fields_are_4xx_or_acknowledged_never_5xx(fuzzer, channel):
    # GIVEN valid samples with 1-3 fields (leaves or whole objects) replaced by another JSON type
    # or an extreme value of their type, signed for the account the body names
    @settings(FUZZ, max_examples=40)
    @given(build=mutated_sample(channel))
    def check(build: Callable[[str], bytes]) -> None:
        # WHEN it is posted; THEN 400, or 200 when it is still a valid payload
        fuzzer.post(build, allowed={200, 400})

    check()
    # AND the fuzzing did reach the parser's refusals
    assert fuzzer.answers.get(400, 0) > 0, fuzzer.answers


@pytest.mark.parametrize("channel", CHANNELS)
def test_extreme_strings_are_4xx_or_acknowledged_never_5xx(fuzzer, channel):
    # GIVEN valid samples whose string fields (account, customer and message ids among them) are
    # far too long for a DynamoDB key, empty, or carry the key separator
    @settings(FUZZ, max_examples=25)
    @given(build=sample_with_extreme_strings(channel))
    def check(build: Callable[[str], bytes]) -> None:
        # WHEN it is posted; THEN 400, or 200 when it is still a valid payload
        fuzzer.post(build, allowed={200, 400})

    check()


@pytest.mark.parametrize("channel", CHANNELS)
def test_oversized_bodies_are_413_never_5xx(fuzzer, channel, monkeypatch):
    # GIVEN a webhook body limit of 2 KiB (app_env clears the settings cache afterwards)
    monkeypatch.setenv("MAX_WEBHOOK_BODY_BYTES", str(SMALL_LIMIT))
    get_settings.cache_clear()
    assert get_settings().max_webhook_body_bytes == SMALL_LIMIT

    # AND bodies over it: a valid sample padded with JSON whitespace, or any bytes
    @settings(FUZZ, max_examples=8)
    @given(
        text=st.sampled_from(samples(channel)),
        extra=st.integers(1, 3 * SMALL_LIMIT),
        garbage=st.booleans(),
    )
    def check(text: str, extra: int, garbage: bool) -> None:
        def build(account_id: str) -> bytes:
            raw = encode(channel, json.loads(text.replace(_demo_account(channel), account_id)))
            size = max(SMALL_LIMIT + extra - len(raw), 1)
            return (b"\xff" * size + raw) if garbage else raw + b" " * size

        # WHEN one is posted; THEN 413 payload_too_large, nothing stored
        _, body, _ = fuzzer.post(build, allowed={413})
        assert body["error"]["code"] == "payload_too_large"
        assert body["error"]["details"] == {"limit_bytes": SMALL_LIMIT}

    check()


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_unmutated_samples_are_accepted(fuzzer, channel):
    # GIVEN the channel's valid samples, signed for a fresh connected account (the fuzz baseline)
    for text in samples(channel):
        # WHEN each is posted
        status, _, _ = fuzzer.post(
            lambda account_id, text=text: encode(
                channel, json.loads(text.replace(_demo_account(channel), account_id))
            ),
            allowed={200},
        )
        # THEN 200: the harness reaches the signature check and beyond
        assert status == 200
