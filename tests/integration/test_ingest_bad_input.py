"""Bad webhook input: the right status and error body, and nothing stored.

"Nothing stored" is read back from DynamoDB Local: the workspace has no tickets, and no item of the
table has a key under the workspace's prefix (contacts, identities, conversations, tickets,
messages, history all live under ``WS#<workspace_id>#``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from tests.helpers import FakeLambdaContext, unique
from ticketing.config import get_settings
from ticketing.models import Channel, TicketStatus
from ticketing.repository import keys

pytestmark = pytest.mark.integration

THAI_EMOJI = "สวัสดีค่ะ ขอบคุณ 🙏😀 — café"


# ---------------------------------------------------------------------------- helpers
def post(event: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
    response = ingest(event, FakeLambdaContext())
    body = response["body"]
    try:
        return response["statusCode"], json.loads(body)
    except ValueError:
        return response["statusCode"], body


def workspace_items(repo: Any, workspace_id: str) -> list[dict[str, Any]]:
    """Every item whose key is under the workspace's prefix (a filtered Scan: tests only)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": repo.table_name,
        "FilterExpression": "begins_with(pk, :p)",
        "ExpressionAttributeValues": {":p": {"S": f"{keys.ws(workspace_id)}#"}},
        "ConsistentRead": True,
    }
    while True:
        page = repo.client.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def assert_nothing_stored(repo: Any, workspace_id: str) -> None:
    for status in TicketStatus:
        assert repo.list_tickets(workspace_id, status, 10, None).items == []
    assert workspace_items(repo, workspace_id) == []


def with_body(event: dict[str, Any], raw: bytes, *, sign: str | None = None) -> dict[str, Any]:
    """The same request with another body, signed (Messenger or LINE) with the demo secret."""
    event = {**event, "body": raw.decode(), "headers": dict(event["headers"])}
    if sign == "messenger":
        event["headers"]["X-Hub-Signature-256"] = demo.sign_messenger(
            raw, demo.secrets()["messenger-app-secret"]
        )
    elif sign == "line":
        event["headers"]["x-line-signature"] = demo.sign_line(
            raw, demo.secrets()["line-channel-secret"]
        )
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event


def with_headers(event: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    return {
        **event,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
    }


def error_code(body: Any) -> str:
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    code: str = body["error"]["code"]
    return code


# ---------------------------------------------------------------------------- signatures
def test_bad_messenger_signature_is_401_and_stores_nothing(accounts, repo):
    # GIVEN a Messenger webhook signed with the wrong secret
    event = accounts.messenger(
        accounts.messenger_message("mid-bad", "hi", psid=unique("psid-")), secret="not-the-secret"
    )
    # WHEN it is posted
    status, body = post(event)
    # THEN 401 invalid_signature and nothing is stored
    assert status == 401
    assert error_code(body) == "invalid_signature"
    assert_nothing_stored(repo, accounts.workspace_id)


def test_bad_line_signature_is_401_and_stores_nothing(accounts, repo):
    # GIVEN a LINE webhook signed with the wrong secret
    event = accounts.line(demo.line_text("700", "hi", ts=demo.T0), secret="wrong")
    # WHEN it is posted
    status, body = post(event)
    # THEN 401 invalid_signature and nothing is stored
    assert status == 401
    assert error_code(body) == "invalid_signature"
    assert_nothing_stored(repo, accounts.workspace_id)


@pytest.mark.parametrize("channel", ["messenger", "line"])
def test_missing_signature_header_is_401(accounts, repo, channel):
    # GIVEN a well-formed webhook without its signature header
    if channel == "messenger":
        event = accounts.messenger(accounts.messenger_message("mid-nosig", "hi", psid="p1"))
    else:
        event = accounts.line(demo.line_text("701", "hi", ts=demo.T0))
    event = with_headers(event, {"Content-Type": "application/json"})
    # WHEN it is posted
    status, body = post(event)
    # THEN 401 and nothing is stored
    assert status == 401
    assert error_code(body) == "invalid_signature"
    assert_nothing_stored(repo, accounts.workspace_id)


def test_signature_over_other_bytes_is_401(accounts, repo):
    # GIVEN a correctly signed body whose text was changed after signing (same JSON meaning)
    event = accounts.messenger(accounts.messenger_message("mid-tamper", "pay 10", psid="p1"))
    tampered = {**event, "body": event["body"].replace("pay 10", "pay 99")}
    # WHEN it is posted
    status, body = post(tampered)
    # THEN the signature no longer matches: 401, nothing stored
    assert status == 401
    assert error_code(body) == "invalid_signature"
    assert_nothing_stored(repo, accounts.workspace_id)


@pytest.mark.parametrize(
    "header", ["x-hub-signature-256", "X-Hub-Signature-256", "X-HUB-SIGNATURE-256"]
)
def test_messenger_signature_header_is_case_insensitive(accounts, repo, header):
    # GIVEN a signed Messenger webhook whose signature header has some casing
    psid = unique("psid-")
    event = accounts.messenger(accounts.messenger_message("mid-case", "hi", psid=psid))
    signature = event["headers"]["X-Hub-Signature-256"]
    event = with_headers(event, {"content-type": "application/json", header: signature})
    # WHEN it is posted
    status, body = post(event)
    # THEN it is accepted and stored
    assert status == 200, body
    (ticket,) = repo.list_tickets(accounts.workspace_id, TicketStatus.OPEN, 10, None).items
    assert ticket.messages_in == 1


@pytest.mark.parametrize("header", ["x-line-signature", "X-Line-Signature"])
def test_line_signature_header_is_case_insensitive(accounts, repo, header):
    # GIVEN a signed LINE webhook whose signature header has some casing
    event = accounts.line(demo.line_text(unique("8"), "hi", user=unique("U"), ts=demo.T0))
    signature = event["headers"]["x-line-signature"]
    event = with_headers(event, {"Content-Type": "application/json", header: signature})
    # WHEN it is posted
    status, body = post(event)
    # THEN it is accepted and stored
    assert status == 200, body
    assert len(repo.list_tickets(accounts.workspace_id, TicketStatus.OPEN, 10, None).items) == 1


# ---------------------------------------------------------------------------- bodies
@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"null", b"[]", b'{"object":"page","entry":[', "\ufeff{}".encode()],
    ids=["broken", "empty", "null", "array", "truncated", "bom"],
)
def test_malformed_json_is_400(accounts, repo, raw):
    # GIVEN a correctly signed request whose body is not a webhook JSON object
    template = accounts.messenger(accounts.messenger_message("mid-x", "hi", psid="p1"))
    event = with_body(template, raw, sign="messenger")
    # WHEN it is posted
    status, body = post(event)
    # THEN 400 malformed_payload with a message, and nothing is stored
    assert status == 400
    assert error_code(body) == "malformed_payload"
    assert body["error"]["message"]
    assert_nothing_stored(repo, accounts.workspace_id)


def _messenger_shapes(page_id: str) -> dict[str, Any]:
    good = demo.messenger_message("mid-shape", "hi", psid="p1", ts=demo.T0)
    return {
        "entry-without-id": {"object": "page", "entry": [{"time": demo.T0, "messaging": [good]}]},
        "timestamp-not-a-number": {
            "object": "page",
            "entry": [{"id": page_id, "messaging": [{**good, "timestamp": "abc"}]}],
        },
        "message-without-mid": {
            "object": "page",
            "entry": [{"id": page_id, "messaging": [{**good, "message": {"text": "hi"}}]}],
        },
        "sender-missing": {
            "object": "page",
            "entry": [
                {"id": page_id, "messaging": [{k: v for k, v in good.items() if k != "sender"}]}
            ],
        },
        "entry-not-a-list": {"object": "page", "entry": {"id": page_id}},
        "not-a-page-object": {"object": "instagram", "entry": [{"id": page_id, "messaging": []}]},
    }


@pytest.mark.parametrize(
    "shape",
    [
        "entry-without-id",
        "timestamp-not-a-number",
        "message-without-mid",
        "sender-missing",
        "entry-not-a-list",
        "not-a-page-object",
    ],
)
def test_messenger_json_of_the_wrong_shape_is_400(accounts, repo, shape):
    # GIVEN valid, correctly signed JSON that is not a Messenger webhook
    payload = _messenger_shapes(accounts.page_id)[shape]
    template = accounts.messenger(accounts.messenger_message("mid-x", "hi", psid="p1"))
    event = with_body(template, demo.meta_json(payload), sign="messenger")
    # WHEN it is posted
    status, body = post(event)
    # THEN 400 malformed_payload naming what is wrong, and nothing is stored
    assert status == 400, body
    assert error_code(body) == "malformed_payload"
    assert body["error"]["details"]["errors"]
    assert_nothing_stored(repo, accounts.workspace_id)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.pop("destination"),
        lambda p: p.pop("events"),
        lambda p: p["events"][0].update(timestamp="abc"),
        lambda p: p["events"][0].pop("webhookEventId"),
        lambda p: p["events"][0]["message"].pop("id"),
    ],
    ids=["no-destination", "no-events", "timestamp-string", "no-event-id", "no-message-id"],
)
def test_line_json_of_the_wrong_shape_is_400(accounts, repo, mutate):
    # GIVEN valid, correctly signed JSON that is not a LINE webhook
    payload = demo.line_payload(
        demo.line_text("702", "hi", ts=demo.T0), bot_id=accounts.line_bot_id
    )
    mutate(payload)
    template = accounts.line(demo.line_text("702", "hi", ts=demo.T0))
    event = with_body(template, demo.line_json(payload), sign="line")
    # WHEN it is posted
    status, body = post(event)
    # THEN 400 malformed_payload, nothing stored
    assert status == 400, body
    assert error_code(body) == "malformed_payload"
    assert_nothing_stored(repo, accounts.workspace_id)


def assert_unknown_account_acknowledged(body: Any, unknown: int) -> None:
    """Unknown receiving accounts are acknowledged and ignored (issue 3: like disconnected
    accounts; a 4xx would only make the channel retry for days), and the answer says so."""
    assert body["outcomes"].get("unknown_account") == unknown, body
    assert body.get("unknown_accounts") == 1, body


def stored_nowhere(repo: Any, workspace_id: str, channel: Channel, account_id: str) -> None:
    """No connection appeared for the stranger and none of its messages is in the workspace."""
    assert repo.get_connection(channel, account_id) is None
    assert not [i for i in workspace_items(repo, workspace_id) if account_id in json.dumps(i)]


def test_unknown_page_is_acknowledged_and_nothing_stored(accounts, repo):
    # GIVEN a correctly signed webhook for a Page nobody connected
    stranger = unique("page-unknown-")
    payload = demo.messenger_payload(
        demo.messenger_message("mid-unknown", "hi", psid="p1", ts=demo.T0), page_id=stranger
    )
    event = demo.messenger_webhook_event(payload)
    # WHEN it is posted
    status, body = post(event)
    # THEN 200 (so Meta stops retrying), counted as unknown, and nothing is stored for it
    assert status == 200, body
    assert_unknown_account_acknowledged(body, 1)
    stored_nowhere(repo, accounts.workspace_id, Channel.MESSENGER, stranger)
    assert_nothing_stored(repo, accounts.workspace_id)


def test_batch_naming_one_unknown_page_stores_only_the_known_one(accounts, repo):
    # GIVEN a batch with one entry for our Page and one for an unknown Page
    stranger = unique("page-unknown-")
    ours = accounts.messenger_message("mid-ours", "hi", psid="p1")
    theirs = demo.messenger_message("mid-theirs", "hi", psid="p2", ts=demo.T0)
    payload = demo.messenger_payload(ours, page_id=accounts.page_id)
    payload["entry"] += demo.messenger_payload(theirs, page_id=stranger)["entry"]
    event = demo.messenger_webhook_event(payload)
    # WHEN it is posted
    status, body = post(event)
    # THEN our Page's message is stored once; nothing is stored for the unknown Page
    assert status == 200, body
    assert_unknown_account_acknowledged(body, 1)
    assert body["outcomes"].get("created") == 1
    stored_nowhere(repo, accounts.workspace_id, Channel.MESSENGER, stranger)
    found = repo.list_tickets(accounts.workspace_id, TicketStatus.OPEN, 10, None).items
    assert [t.messages_in for t in found] == [1]
    (message,) = repo.list_messages(accounts.workspace_id, found[0].ticket_id, 10, None).items
    assert message.channel_message_id == "mid-ours"


def test_batch_for_an_unknown_page_with_a_bad_signature_is_still_refused(accounts, repo):
    # GIVEN a batch naming our Page and an unknown one, signed with the wrong secret
    ours = accounts.messenger_message("mid-ours-bad", "hi", psid="p1")
    payload = demo.messenger_payload(ours, page_id=accounts.page_id)
    payload["entry"] += demo.messenger_payload(
        demo.messenger_message("mid-theirs-bad", "hi", psid="p2", ts=demo.T0),
        page_id=unique("page-unknown-"),
    )["entry"]
    event = demo.messenger_webhook_event(payload, "not-the-secret")
    # WHEN it is posted
    status, body = post(event)
    # THEN the known Page's secret still judges the request: 401, nothing stored
    assert status == 401, body
    assert error_code(body) == "invalid_signature"
    assert_nothing_stored(repo, accounts.workspace_id)


def test_unknown_line_destination_is_acknowledged_and_nothing_stored(accounts, repo):
    # GIVEN a LINE webhook for a bot nobody connected
    stranger = unique("Unope")
    payload = demo.line_payload(demo.line_text("703", "hi", ts=demo.T0), bot_id=stranger)
    event = demo.line_webhook_event(payload)
    # WHEN it is posted
    status, body = post(event)
    # THEN 200, counted as unknown, and nothing is stored
    assert status == 200, body
    assert_unknown_account_acknowledged(body, 1)
    stored_nowhere(repo, accounts.workspace_id, Channel.LINE, stranger)
    assert_nothing_stored(repo, accounts.workspace_id)


@pytest.mark.parametrize("channel", ["telegram", "MESSENGER", "no-such-channel"])
def test_unknown_channel_path_is_404(accounts, repo, channel):
    # GIVEN a signed Messenger body posted to an unsupported channel path
    event = accounts.messenger(accounts.messenger_message("mid-ch", "hi", psid="p1"))
    event = {
        **event,
        "path": f"/webhooks/{channel}",
        "pathParameters": {"channel": channel},
    }
    # WHEN it is posted
    status, body = post(event)
    # THEN 404 and nothing is stored
    assert status == 404
    assert error_code(body) in {"unsupported_channel", "not_found"}
    assert_nothing_stored(repo, accounts.workspace_id)


def test_body_over_the_limit_is_413(accounts, repo, monkeypatch):
    # GIVEN a 512-byte body limit and a signed webhook bigger than that
    monkeypatch.setenv("MAX_WEBHOOK_BODY_BYTES", "512")
    get_settings.cache_clear()
    event = accounts.messenger(accounts.messenger_message("mid-big", "x" * 600, psid="p1"))
    assert len(event["body"].encode()) > 512
    # WHEN it is posted
    status, body = post(event)
    # THEN 413 payload_too_large naming the limit; nothing is stored
    assert status == 413
    assert error_code(body) == "payload_too_large"
    assert body["error"]["details"]["limit_bytes"] == 512
    assert_nothing_stored(repo, accounts.workspace_id)

    # AND a body under the limit is still accepted
    small = accounts.messenger(accounts.messenger_message("mid-small", "ok", psid="p1"))
    assert len(small["body"].encode()) <= 512
    assert post(small)[0] == 200


# ---------------------------------------------------------------------------- good edge cases
def test_base64_encoded_body_with_correct_signature_is_accepted(accounts, repo):
    # GIVEN a signed webhook that API Gateway passes base64-encoded
    psid = unique("psid-")
    event = accounts.messenger(accounts.messenger_message("mid-b64", THAI_EMOJI, psid=psid))
    raw = event["body"].encode()
    event = {**event, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    # WHEN it is posted
    status, body = post(event)
    # THEN the signature is checked over the decoded bytes and the message stored intact
    assert status == 200, body
    (ticket,) = repo.list_tickets(accounts.workspace_id, TicketStatus.OPEN, 10, None).items
    (message,) = repo.list_messages(accounts.workspace_id, ticket.ticket_id, 10, None).items
    assert message.text == THAI_EMOJI


def test_non_ascii_messenger_text_round_trips(accounts, repo):
    # GIVEN a Messenger webhook with Thai and emoji, escaped as \\uXXXX the way Meta sends it
    psid = unique("psid-")
    event = accounts.messenger(accounts.messenger_message("mid-thai", THAI_EMOJI, psid=psid))
    assert event["body"].isascii()
    assert "\\u0e2a" in event["body"]  # Thai letter so sa, escaped
    # WHEN it is posted
    status, body = post(event)
    # THEN it is accepted and the stored text equals the original
    assert status == 200, body
    (ticket,) = repo.list_tickets(accounts.workspace_id, TicketStatus.OPEN, 10, None).items
    (message,) = repo.list_messages(accounts.workspace_id, ticket.ticket_id, 10, None).items
    assert message.text == THAI_EMOJI


def test_non_ascii_line_text_round_trips(accounts, repo):
    # GIVEN a LINE webhook whose body carries raw UTF-8 (as LINE sends it)
    event = accounts.line(demo.line_text(unique("9"), THAI_EMOJI, user=unique("U"), ts=demo.T0))
    assert not event["body"].isascii()
    # WHEN it is posted
    status, body = post(event)
    # THEN it is accepted and the stored text equals the original
    assert status == 200, body
    (ticket,) = repo.list_tickets(accounts.workspace_id, TicketStatus.OPEN, 10, None).items
    (message,) = repo.list_messages(accounts.workspace_id, ticket.ticket_id, 10, None).items
    assert message.text == THAI_EMOJI


def test_non_message_events_are_acknowledged_without_storing(accounts, repo):
    # GIVEN a signed Messenger webhook holding only delivery and read receipts
    receipts = [
        {
            "sender": {"id": "p1"},
            "recipient": {"id": accounts.page_id},
            "timestamp": demo.T0,
            "delivery": {"mids": ["mid-1"], "watermark": demo.T0},
        },
        {
            "sender": {"id": "p1"},
            "recipient": {"id": accounts.page_id},
            "timestamp": demo.T0 + 1,
            "read": {"watermark": demo.T0},
        },
    ]
    # WHEN it is posted
    status, body = post(accounts.messenger(*receipts))
    # THEN it is acknowledged, and they are not treated as customer messages
    assert status == 200, body
    assert body["outcomes"] == {"ignored": 2}
    assert_nothing_stored(repo, accounts.workspace_id)
