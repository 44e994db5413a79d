"""Outbound delivery (issue 8) on DynamoDB Local, every channel's send API played by a local fake
(pytest-httpserver) answering with the real APIs' shapes, errors included.

The replies are stored by the real reply service (message + outbox item in one transaction); the
outbox event reaches the sender as Lambda would hand it over from SQS; the assertions read the
stored items and the requests the fake received.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from local import demo
from local.outbox_events import sqs_event
from tests.helpers import FakeLambdaContext, unique
from ticketing.channels.line_send import retry_key
from ticketing.models import Channel, ChannelConnection, WorkspaceSettings
from ticketing.models.commands import CustomerMessageReceived
from ticketing.models.records import DeliveryStatus
from ticketing.models.replies import OutboundMessageRequested, ReplyCommand
from ticketing.repository import keys
from ticketing.repository.delivery import DeliveryRepository
from ticketing.repository.dynamodb import from_dynamo, to_dynamo
from ticketing.services import ingest, replies

pytestmark = pytest.mark.integration

TOKENS = {
    "messenger": {"page_access_token": "EAAG-messenger-page-token"},
    "instagram": {"page_access_token": "EAAG-instagram-page-token"},
    "whatsapp": {"access_token": "EAAG-whatsapp-token"},
    "line": {"channel_access_token": "line-channel-access-token"},
    "shopee": {"partner_id": 2001234, "partner_key": "shopee-partner-key", "access_token": "sp-at"},
    "lazada": {"app_key": "100001", "app_secret": "lazada-app-secret", "access_token": "lz-at"},
}
CUSTOMERS = {
    "messenger": "6000000000000001",
    "instagram": "17841499999999999",
    "whatsapp": "66812345678",
    "line": "U4af4980629000000000000000000000",
    "shopee": "123456789",
    "lazada": "100000001_2_200000001_1_103",
}


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture
def fake(httpserver: HTTPServer) -> HTTPServer:
    return httpserver


@pytest.fixture
def sender_env(
    app_env: None, fake: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Base URLs on the fake server, credentials in a local secrets file, caches reset."""
    secrets = json.loads(demo.SECRETS_FILE.read_text())
    secrets.update({f"{channel}-send": json.dumps(v) for channel, v in TOKENS.items()})
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(secrets))
    monkeypatch.setenv("LOCAL_SECRETS_FILE", str(path))
    monkeypatch.setenv("META_GRAPH_BASE_URL", fake.url_for("/graph"))
    monkeypatch.setenv("LINE_API_BASE_URL", fake.url_for("/line"))
    monkeypatch.setenv("SHOPEE_API_BASE_URL", fake.url_for("/shopee"))
    monkeypatch.setenv("LAZADA_API_BASE_URL", fake.url_for("/lazada/rest"))
    monkeypatch.setenv("CHANNEL_API_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("OUTBOX_MAX_RECEIVES", "5")
    _reset()
    yield
    _reset()


@pytest.fixture(autouse=True)
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The Retry-After delays the handler asked SQS for (no SQS here)."""
    import functions.outbox_sender.app as sender_app

    asked: list[float] = []
    monkeypatch.setattr(sender_app, "delay_redelivery", lambda record, s: asked.append(s))
    return asked


def _reset() -> None:
    from functions.outbox_sender.app import delivery_store
    from ticketing.channels.senders import api_client
    from ticketing.config import get_settings

    get_settings.cache_clear()
    api_client.cache_clear()
    delivery_store.cache_clear()


class Shop:
    """A workspace with one connected account of a channel and a customer's open ticket."""

    def __init__(self, repo: Any, channel: str) -> None:
        self.repo = repo
        self.channel = Channel(channel)
        self.workspace_id = unique("ws-")
        # Shopee shop ids are numbers (they are signed as such)
        numeric = channel in ("shopee", "lazada")
        self.account_id = str(uuid.uuid4().int % 10**11) if numeric else unique("acct")
        self.customer_id = CUSTOMERS[channel]
        repo.put_workspace(WorkspaceSettings(workspace_id=self.workspace_id, name="Shop"))
        repo.put_connection(
            ChannelConnection(
                channel=self.channel,
                account_id=self.account_id,
                workspace_id=self.workspace_id,
                secret_ref=demo.SECRET_REFS[channel],
                options={"credentials_ref": f"local:{channel}-send"},
            )
        )
        self.ticket_id = ""

    def customer_writes(
        self, at: datetime, text: str = "Is it in stock?", reply_token: str | None = None
    ) -> str:
        result = ingest.ingest_customer_message(
            self.repo,
            self.workspace_id,
            CustomerMessageReceived(
                channel=self.channel,
                account_id=self.account_id,
                customer_id=self.customer_id,
                channel_message_id=unique("in-"),
                sent_at=at,
                text=text,
                reply_token=reply_token,
            ),
            at,
        )
        assert result.ticket_id
        self.ticket_id = result.ticket_id
        return result.ticket_id

    def reply(self, text: str, at: datetime, **extra: Any) -> OutboundMessageRequested:
        result = replies.reply(
            self.repo,
            self.workspace_id,
            self.ticket_id,
            ReplyCommand(text=text, client_message_id=unique("ui-")),
            agent_id="agent-1",
            now=at,
        )
        (outbox,) = [
            o
            for o in self.repo.list_outbox(self.workspace_id, 100, None).items
            if o.detail.message_id == result.message.message_id
        ]
        return outbox.detail.model_copy(update=extra)

    def item(self, channel_message_id: str) -> dict[str, Any] | None:
        response = self.repo.client.get_item(
            TableName=self.repo.table_name,
            Key=to_dynamo(
                keys.message_key(
                    self.workspace_id, self.channel, self.account_id, channel_message_id
                )
            ),
            ConsistentRead=True,
        )
        return from_dynamo(response["Item"]) if "Item" in response else None

    def listed(self) -> list[Any]:
        return self.repo.list_messages(self.workspace_id, self.ticket_id, 100, None).items


def send(
    *details: OutboundMessageRequested | str, receive_count: int = 1
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the sender's handler on one SQS batch; (its answer, the event it got)."""
    from functions.outbox_sender.app import lambda_handler

    bodies = [d if isinstance(d, str) else d.model_dump(mode="json") for d in details]
    event = sqs_event(bodies, receive_count=receive_count)
    return lambda_handler(event, FakeLambdaContext()), event


def failures(answer: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


def graph_error(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGh123",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


NOW = datetime.now(UTC).replace(microsecond=0)


# ---------------------------------------------------------------------------- Messenger
def test_messenger_reply_is_sent_and_rekeyed_under_the_channel_id(sender_env, repo, fake):
    # GIVEN a Messenger ticket whose customer wrote 2 minutes ago, and an agent's reply
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=2))
    detail = shop.reply("We have it!", NOW)
    fake.expect_oneshot_request(
        f"/graph/{shop.account_id}/messages", method="POST"
    ).respond_with_json({"recipient_id": shop.customer_id, "message_id": "m_sent_0001"})
    # WHEN the sender handles the outbox event
    answer, _ = send(detail)
    # THEN the Send API got a standard RESPONSE with our metadata and the Page token as Bearer
    assert failures(answer) == []
    ((request, _response),) = fake.log
    body = request.get_json()
    assert body == {
        "recipient": {"id": shop.customer_id},
        "messaging_type": "RESPONSE",
        "message": {"text": "We have it!", "metadata": f"te:{detail.message_id}"},
    }
    assert request.headers["Authorization"] == "Bearer EAAG-messenger-page-token"
    assert "access_token" not in request.query_string.decode()
    # AND the message now lives under the channel's id, sent; the placeholder points to it
    stored = shop.item("m_sent_0001")
    assert stored is not None
    assert stored["delivery_status"] == "sent"
    assert stored["message_id"] == detail.message_id
    assert "send_attempt_id" not in stored
    placeholder = shop.item(detail.channel_message_id)
    assert placeholder is not None
    assert placeholder["moved_to"] == "m_sent_0001"
    # AND the ticket lists the reply once, under its channel id
    outbound = [m for m in shop.listed() if m.direction.value == "outbound"]
    assert [(m.channel_message_id, m.delivery_status) for m in outbound] == [
        ("m_sent_0001", DeliveryStatus.SENT)
    ]


def test_messenger_past_24h_uses_the_human_agent_tag(sender_env, repo, fake):
    # GIVEN a customer who last wrote 30 hours ago
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(hours=30))
    detail = shop.reply("Sorry for the wait", NOW)
    assert detail.last_inbound_at is not None
    fake.expect_oneshot_request(f"/graph/{shop.account_id}/messages").respond_with_json(
        {"recipient_id": shop.customer_id, "message_id": "m_tagged"}
    )
    # WHEN it is sent
    answer, _ = send(detail)
    # THEN it went as MESSAGE_TAG / HUMAN_AGENT
    assert failures(answer) == []
    body = fake.log[0][0].get_json()
    assert (body["messaging_type"], body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert shop.item("m_tagged")["delivery_status"] == "sent"  # type: ignore[index]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            graph_error(190, "Error validating access token: Session has expired", 463),
            "token_expired",
        ),
        (
            graph_error(10, "(#10) This message is sent outside of allowed window.", 2018278),
            "outside_window",
        ),
        (graph_error(551, "(#551) This person isn't available right now."), "invalid_recipient"),
    ],
)
def test_messenger_permanent_errors_fail_the_message_with_the_reason(
    sender_env, repo, fake, error, reason
):
    # GIVEN a reply and a Send API answering a permanent error (HTTP 400, Graph error shape)
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hello", NOW)
    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_json(error, status=400)
    # WHEN the sender handles it
    answer, _ = send(detail)
    # THEN the record is done (no SQS retry), one call was made, the message is failed + reason
    assert failures(answer) == []
    assert len(fake.log) == 1
    stored = shop.item(detail.channel_message_id)
    assert stored is not None
    assert stored["delivery_status"] == "failed"
    assert stored["delivery_error"].startswith(f"{reason}: ")
    assert "send_attempt_id" not in stored


def test_rate_limit_releases_the_message_for_a_later_delivery(sender_env, repo, fake, delays):
    # GIVEN a Send API answering 429 with Retry-After
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hello", NOW)
    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_json(
        graph_error(613, "Calls to this api have exceeded the rate limit."),
        status=429,
        headers={"Retry-After": "120"},
    )
    # WHEN the sender handles it on the first receive
    answer, event = send(detail, receive_count=1)
    # THEN the record is reported failed (SQS retries it), the message is still sending and
    # unclaimed, and the long Retry-After was not slept in the function (one call)
    assert failures(answer) == [event["Records"][0]["messageId"]]
    assert len(fake.log) == 1
    assert delays == [120.0]  # the record becomes visible again only after Retry-After
    stored = shop.item(detail.channel_message_id)
    assert stored is not None
    assert stored["delivery_status"] == "sending"
    assert "send_attempt_id" not in stored
    # WHEN the last allowed receive meets the same answer
    answer, event = send(detail, receive_count=5)
    # THEN the message is failed with the reason, and the record goes on to the DLQ
    assert failures(answer) == [event["Records"][0]["messageId"]]
    stored = shop.item(detail.channel_message_id)
    assert stored["delivery_status"] == "failed"  # type: ignore[index]
    assert stored["delivery_error"].startswith("rate_limited: ")  # type: ignore[index]


def test_a_timed_out_send_is_not_repeated_and_is_failed_as_unknown(sender_env, repo, fake):
    # GIVEN a Send API that answers after the client's timeout (the message may be delivered)
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hello", NOW)

    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response(json.dumps({"recipient_id": "x", "message_id": "m_late"}), 200)

    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_handler(slow)
    # WHEN the sender handles it
    answer, _ = send(detail)
    # THEN it was called once (never retried), the record is done, the message failed as unknown
    assert failures(answer) == []
    stored = shop.item(detail.channel_message_id)
    assert stored is not None
    assert stored["delivery_status"] == "failed"
    assert stored["delivery_error"].startswith("unknown_outcome: ")
    # AND a redelivery of the same event sends nothing more
    answer, _ = send(detail, receive_count=2)
    assert failures(answer) == []
    time.sleep(1.2)  # the slow handler has answered by now: every call is in the log
    assert len(fake.log) == 1


def test_a_redelivery_after_a_crash_does_not_send_twice(sender_env, repo, fake):
    # GIVEN a message claimed by an attempt that never recorded its outcome (3 minutes ago)
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=5))
    detail = shop.reply("Hello", NOW - timedelta(minutes=4))
    store = DeliveryRepository(repo)
    claim = store.claim(
        workspace_id=shop.workspace_id,
        channel=shop.channel,
        account_id=shop.account_id,
        channel_message_id=detail.channel_message_id,
        attempt_id="crashed-attempt",
        now=datetime.now(UTC) - timedelta(minutes=3),
    )
    assert claim.state == "claimed"
    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_json(
        {"recipient_id": shop.customer_id, "message_id": "m_twice"}
    )
    # WHEN SQS delivers the event again
    answer, _ = send(detail, receive_count=2)
    # THEN the channel is not called again, and the message says the outcome is unknown
    assert failures(answer) == []
    assert fake.log == []
    stored = shop.item(detail.channel_message_id)
    assert stored["delivery_status"] == "failed"  # type: ignore[index]
    assert stored["delivery_error"].startswith("unknown_outcome: ")  # type: ignore[index]


def test_a_concurrent_attempt_in_flight_is_retried_later(sender_env, repo, fake):
    # GIVEN a message claimed a second ago by another attempt
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hello", NOW)
    DeliveryRepository(repo).claim(
        workspace_id=shop.workspace_id,
        channel=shop.channel,
        account_id=shop.account_id,
        channel_message_id=detail.channel_message_id,
        attempt_id="other",
        now=datetime.now(UTC),
    )
    # WHEN a duplicate delivery of the event arrives
    answer, event = send(detail)
    # THEN nothing is sent; SQS will deliver it again; the message is untouched
    assert failures(answer) == [event["Records"][0]["messageId"]]
    assert fake.log == []
    assert shop.item(detail.channel_message_id)["send_attempt_id"] == "other"  # type: ignore[index]


def test_echo_of_our_send_is_matched_not_stored_twice(sender_env, repo, fake):
    # GIVEN a reply whose send timed out (failed, unknown outcome) ...
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hello", NOW)
    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_handler(
        lambda r: (time.sleep(1.0), Response("{}", 200))[1]
    )
    send(detail)
    assert shop.item(detail.channel_message_id)["delivery_status"] == "failed"  # type: ignore[index]
    # WHEN Messenger's echo of that send arrives, with our app id and metadata
    from ticketing.models.commands import OutboundMessageSeen

    echo = OutboundMessageSeen(
        channel=shop.channel,
        account_id=shop.account_id,
        customer_id=shop.customer_id,
        channel_message_id="m_echoed",
        sent_at=NOW,
        text="Hello",
        app_id="1517776481860111",
        metadata=f"te:{detail.message_id}",
    )
    first = ingest.record_outbound_message(
        repo, shop.workspace_id, echo, NOW, own_app_id="1517776481860111"
    )
    again = ingest.record_outbound_message(
        repo, shop.workspace_id, echo, NOW, own_app_id="1517776481860111"
    )
    # THEN the stored reply is recorded as sent under the echo's id, once
    assert (first.outcome, again.outcome) == ("outbound_matched", "outbound_matched")
    outbound = [m for m in shop.listed() if m.direction.value == "outbound"]
    assert [(m.channel_message_id, m.delivery_status, m.message_id) for m in outbound] == [
        ("m_echoed", DeliveryStatus.SENT, detail.message_id)
    ]
    time.sleep(1.2)  # let the slow fake finish, so its late log entry stays in this test


def test_private_reply_goes_to_the_comment_and_reports_the_recipient(
    sender_env, repo, fake, monkeypatch
):
    # GIVEN a private reply request (comment_id set) and a comments module listening
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(days=10))  # the DM window does not apply to it
    detail = shop.reply("Sent you the price in DM", NOW - timedelta(days=10), comment_id="c_123")
    seen: list[tuple[str, str | None]] = []
    from ticketing.services import comments

    monkeypatch.setattr(
        comments,
        "record_private_reply_recipient",
        lambda repo, detail, recipient_id, now: seen.append((recipient_id, detail.comment_id)),
    )
    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_json(
        {"recipient_id": "psid-777", "message_id": "m_private"}
    )
    # WHEN it is sent
    answer, _ = send(detail)
    # THEN the recipient is the comment, and the PSID from the answer was handed over
    assert failures(answer) == []
    assert fake.log[0][0].get_json()["recipient"] == {"comment_id": "c_123"}
    assert seen == [("psid-777", "c_123")]
    assert shop.item("m_private")["delivery_status"] == "sent"  # type: ignore[index]


# ---------------------------------------------------------------------------- Instagram
def test_instagram_happy_path_and_expired_token(sender_env, repo, fake):
    # GIVEN two Instagram replies; the API accepts the first and then answers 190
    shop = Shop(repo, "instagram")
    shop.customer_writes(NOW - timedelta(minutes=1))
    ok = shop.reply("Yes, in stock", NOW)
    expired = shop.reply("Anything else?", NOW)
    fake.expect_ordered_request(f"/graph/{shop.account_id}/messages").respond_with_json(
        {"recipient_id": shop.customer_id, "message_id": "aWdfZAG1_ig_sent"}
    )
    fake.expect_ordered_request(f"/graph/{shop.account_id}/messages").respond_with_json(
        graph_error(190, "Error validating access token"), status=400
    )
    # WHEN both are sent in one batch
    answer, _ = send(ok, expired)
    # THEN the first is sent (no metadata on Instagram), the second failed with the reason
    assert failures(answer) == []
    assert "metadata" not in fake.log[0][0].get_json()["message"]
    assert shop.item("aWdfZAG1_ig_sent")["delivery_status"] == "sent"  # type: ignore[index]
    failed = shop.item(expired.channel_message_id)
    assert failed["delivery_status"] == "failed"  # type: ignore[index]
    assert failed["delivery_error"].startswith("token_expired")  # type: ignore[index]


# ---------------------------------------------------------------------------- WhatsApp
def test_whatsapp_send_then_status_report_finds_the_message(sender_env, repo, fake):
    # GIVEN a WhatsApp reply within the 24 h window
    shop = Shop(repo, "whatsapp")
    shop.customer_writes(NOW - timedelta(hours=2))
    detail = shop.reply("Your order shipped", NOW)
    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_json(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": shop.customer_id, "wa_id": shop.customer_id}],
            "messages": [{"id": "wamid.HBgLNjY4MTIzNDU2NzgVAgARGBI"}],
        }
    )
    # WHEN it is sent, and WhatsApp later reports it delivered
    answer, _ = send(detail)
    from ticketing.models.commands import DeliveryStatusReported

    moved = ingest.apply_delivery_status(
        repo,
        shop.workspace_id,
        DeliveryStatusReported(
            channel=shop.channel,
            account_id=shop.account_id,
            channel_message_id="wamid.HBgLNjY4MTIzNDU2NzgVAgARGBI",
            status="delivered",
            at=NOW + timedelta(seconds=5),
        ),
    )
    # THEN the body is the Cloud API's text message, and the report moved the stored reply
    assert failures(answer) == []
    assert fake.log[0][0].get_json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": shop.customer_id,
        "type": "text",
        "text": {"preview_url": False, "body": "Your order shipped"},
    }
    assert moved.outcome == "status_updated"
    stored = shop.item("wamid.HBgLNjY4MTIzNDU2NzgVAgARGBI")
    assert stored["delivery_status"] == "delivered"  # type: ignore[index]


def test_whatsapp_reengagement_error_fails_as_outside_window(sender_env, repo, fake):
    # GIVEN a reply the Cloud API refuses with 131047 (the window closed meanwhile)
    shop = Shop(repo, "whatsapp")
    shop.customer_writes(NOW - timedelta(hours=20))
    detail = shop.reply("Still there?", NOW)
    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_json(
        {
            "error": {
                "message": "(#131047) Re-engagement message",
                "type": "OAuthException",
                "code": 131047,
                "error_data": {
                    "messaging_product": "whatsapp",
                    "details": "Message failed to send because more than 24 hours have passed"
                    " since the customer last replied to this number.",
                },
                "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
            }
        },
        status=400,
    )
    # WHEN it is sent
    answer, _ = send(detail)
    # THEN the message is failed as outside the window
    assert failures(answer) == []
    assert shop.item(detail.channel_message_id)["delivery_error"].startswith(  # type: ignore[index]
        "outside_window"
    )


def test_sender_rechecks_the_window_before_calling(sender_env, repo, fake):
    # GIVEN a WhatsApp reply accepted 23 h after the customer's message but sent 2 h later
    shop = Shop(repo, "whatsapp")
    shop.customer_writes(NOW - timedelta(hours=25))
    detail = shop.reply("Late", NOW - timedelta(hours=2))
    # WHEN the sender handles it now
    answer, _ = send(detail)
    # THEN it never calls the API, and the message names the rule
    assert failures(answer) == []
    assert fake.log == []
    stored = shop.item(detail.channel_message_id)
    assert stored["delivery_error"].startswith("messaging_window_closed")  # type: ignore[index]


# ---------------------------------------------------------------------------- LINE
def test_line_push_carries_a_stable_retry_key_and_retries_safely(sender_env, repo, fake):
    # GIVEN a LINE reply (no reply token) and an API that answers 500 once, then accepts
    shop = Shop(repo, "line")
    shop.customer_writes(NOW - timedelta(minutes=10))
    detail = shop.reply("Thanks!", NOW)
    fake.expect_ordered_request("/line/v2/bot/message/push").respond_with_json(
        {"message": "An error occurred in the server."}, status=500
    )
    fake.expect_ordered_request("/line/v2/bot/message/push").respond_with_json(
        {"sentMessages": [{"id": "461230966842064897", "quoteToken": "IStG5h1Tz7b"}]}
    )
    # WHEN it is sent
    answer, _ = send(detail)
    # THEN both calls carried the same X-Line-Retry-Key (push is idempotent: the 500 was retried)
    assert failures(answer) == []
    keys_sent = [r.headers["X-Line-Retry-Key"] for r, _ in fake.log]
    assert keys_sent == [retry_key(detail.message_id)] * 2
    assert str(uuid.UUID(keys_sent[0])) == keys_sent[0]
    assert fake.log[0][0].get_json() == {
        "to": shop.customer_id,
        "messages": [{"type": "text", "text": "Thanks!"}],
    }
    assert shop.item("461230966842064897")["delivery_status"] == "sent"  # type: ignore[index]


def test_line_fresh_reply_token_uses_reply_and_falls_back_to_push(sender_env, repo, fake):
    # GIVEN a reply with a fresh reply token that LINE says is invalid
    shop = Shop(repo, "line")
    now = datetime.now(UTC)
    shop.customer_writes(now - timedelta(seconds=5))
    detail = shop.reply("Right away", now, reply_token="nHuyWiB7yP5Zw52FIkcQobQuGDXCTA")
    fake.expect_ordered_request("/line/v2/bot/message/reply").respond_with_json(
        {"message": "Invalid reply token"}, status=400
    )
    fake.expect_ordered_request("/line/v2/bot/message/push").respond_with_json(
        {"sentMessages": [{"id": "461230966842064898", "quoteToken": "q"}]}
    )
    # WHEN it is sent
    answer, _ = send(detail)
    # THEN reply was tried with the token, then push delivered it
    assert failures(answer) == []
    assert fake.log[0][0].get_json()["replyToken"] == "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"
    assert fake.log[1][0].path == "/line/v2/bot/message/push"
    assert shop.item("461230966842064898")["delivery_status"] == "sent"  # type: ignore[index]


def test_line_redelivery_after_a_crash_resends_with_the_same_retry_key(sender_env, repo, fake):
    # GIVEN a LINE message claimed by a crashed attempt; LINE had accepted that push (409)
    shop = Shop(repo, "line")
    shop.customer_writes(NOW - timedelta(minutes=10))
    detail = shop.reply("Thanks!", NOW - timedelta(minutes=5))
    DeliveryRepository(repo).claim(
        workspace_id=shop.workspace_id,
        channel=shop.channel,
        account_id=shop.account_id,
        channel_message_id=detail.channel_message_id,
        attempt_id="crashed",
        now=datetime.now(UTC) - timedelta(minutes=4),
    )
    fake.expect_request("/line/v2/bot/message/push").respond_with_json(
        {"message": "The retry key is already accepted", "sentMessages": [{"id": "4612309"}]},
        status=409,
        headers={"X-Line-Accepted-Request-Id": "123e4567-e89b-12d3-a456-426614174000"},
    )
    # WHEN the event is delivered again
    answer, _ = send(detail, receive_count=2)
    # THEN the push is repeated with the same key, and the 409 counts as delivered
    assert failures(answer) == []
    assert fake.log[0][0].headers["X-Line-Retry-Key"] == retry_key(detail.message_id)
    assert shop.item("4612309")["delivery_status"] == "sent"  # type: ignore[index]


def test_line_expired_token_fails(sender_env, repo, fake):
    shop = Shop(repo, "line")
    shop.customer_writes(NOW - timedelta(minutes=10))
    detail = shop.reply("Thanks!", NOW)
    fake.expect_request("/line/v2/bot/message/push").respond_with_json(
        {
            "message": "Authentication failed. Confirm that the access token in the authorization"
            " header is valid."
        },
        status=401,
    )
    answer, _ = send(detail)
    assert failures(answer) == []
    assert shop.item(detail.channel_message_id)["delivery_error"].startswith(  # type: ignore[index]
        "token_expired"
    )


# ---------------------------------------------------------------------------- Shopee
def test_shopee_send_message_is_signed_and_sent(sender_env, repo, fake):
    # GIVEN a Shopee reply
    shop = Shop(repo, "shopee")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Ships tomorrow", NOW)
    fake.expect_request("/shopee/api/v2/sellerchat/send_message", method="POST").respond_with_json(
        {
            "request_id": "8c3b0f1e2a",
            "error": "",
            "message": "",
            "response": {
                "to_id": int(shop.customer_id),
                "message_type": "text",
                "content": {"text": "Ships tomorrow"},
                "conversation_id": "1234567890",
                "created_timestamp": 1764086400,
                "message_id": "2173820998484902274",
            },
        }
    )
    # WHEN it is sent
    answer, _ = send(detail)
    # THEN the call carried the shop-level signature over partner_id+path+timestamp+token+shop
    assert failures(answer) == []
    request = fake.log[0][0]
    query = request.args
    creds = TOKENS["shopee"]
    assert query["partner_id"] == str(creds["partner_id"])
    assert query["shop_id"] == shop.account_id
    expected = hmac.new(
        str(creds["partner_key"]).encode(),
        f"{creds['partner_id']}/api/v2/sellerchat/send_message{query['timestamp']}"
        f"{creds['access_token']}{query['shop_id']}".encode(),
        hashlib.sha256,
    ).hexdigest()
    assert query["sign"] == expected
    assert request.get_json() == {
        "to_id": int(shop.customer_id),
        "message_type": "text",
        "content": {"text": "Ships tomorrow"},
    }
    assert shop.item("2173820998484902274")["delivery_status"] == "sent"  # type: ignore[index]


def test_shopee_auth_error_fails(sender_env, repo, fake):
    shop = Shop(repo, "shopee")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hi", NOW)
    fake.expect_request("/shopee/api/v2/sellerchat/send_message").respond_with_json(
        {"request_id": "r1", "error": "invalid_acceess_token", "message": "Invalid access_token."},
        status=403,
    )
    answer, _ = send(detail)
    assert failures(answer) == []
    assert shop.item(detail.channel_message_id)["delivery_error"].startswith(  # type: ignore[index]
        "token_expired"
    )


# ---------------------------------------------------------------------------- Lazada
def test_lazada_im_send_is_signed_and_sent(sender_env, repo, fake):
    # GIVEN a Lazada reply
    shop = Shop(repo, "lazada")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("On its way", NOW)
    fake.expect_request("/lazada/rest/im/message/send", method="POST").respond_with_json(
        {
            "code": "0",
            "data": {"message_id": "LZD-MSG-001", "template_id": 1, "session_id": shop.customer_id},
            "request_id": "2101c5a0",
        }
    )
    # WHEN it is sent
    answer, _ = send(detail)
    # THEN system parameters + form body are signed (path + sorted name/value pairs, upper hex)
    assert failures(answer) == []
    request = fake.log[0][0]
    params = {**request.args.to_dict(), **request.form.to_dict()}
    assert params["session_id"] == shop.customer_id
    assert params["txt"] == "On its way"
    signed = "/im/message/send" + "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign")
    expected = hmac.new(b"lazada-app-secret", signed.encode(), hashlib.sha256).hexdigest().upper()
    assert params["sign"] == expected
    assert shop.item("LZD-MSG-001")["delivery_status"] == "sent"  # type: ignore[index]


def test_lazada_illegal_token_fails(sender_env, repo, fake):
    shop = Shop(repo, "lazada")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hi", NOW)
    fake.expect_request("/lazada/rest/im/message/send").respond_with_json(
        {
            "type": "ISV",
            "code": "IllegalAccessToken",
            "message": "The specified access token is invalid or expired",
            "request_id": "0ba2887315178178017221014",
        }
    )
    answer, _ = send(detail)
    assert failures(answer) == []
    assert shop.item(detail.channel_message_id)["delivery_error"].startswith(  # type: ignore[index]
        "token_expired"
    )


# ---------------------------------------------------------------------------- batch and poison
def test_batch_reports_only_the_failed_record(sender_env, repo, fake):
    # GIVEN two LINE replies: the API accepts the first and rate-limits the second
    shop = Shop(repo, "line")
    shop.customer_writes(NOW - timedelta(minutes=1))
    first, second = shop.reply("one", NOW), shop.reply("two", NOW)
    fake.expect_ordered_request("/line/v2/bot/message/push").respond_with_json(
        {"sentMessages": [{"id": "900001"}]}
    )
    for _ in range(1):  # Retry-After 30 s is too long to sleep in the function: one call
        fake.expect_ordered_request("/line/v2/bot/message/push").respond_with_json(
            {"message": "The API rate limit has been exceeded. Try again later."},
            status=429,
            headers={"Retry-After": "30"},
        )
    # WHEN they come in one batch
    answer, event = send(first, second)
    # THEN only the second record is reported, and it is still sending, unclaimed
    assert failures(answer) == [event["Records"][1]["messageId"]]
    assert shop.item("900001")["delivery_status"] == "sent"  # type: ignore[index]
    pending = shop.item(second.channel_message_id)
    assert pending["delivery_status"] == "sending"  # type: ignore[index]
    assert "send_attempt_id" not in pending  # type: ignore[operator]


def test_poison_message_fails_every_time_then_is_failed_on_the_last_receive(sender_env, repo, fake):
    # GIVEN a record that is not an event at all, and a reply whose channel keeps failing (503)
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hello", NOW)
    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_json(
        graph_error(2, "An unexpected error has occurred. Please retry your request later."),
        status=503,
    )
    # WHEN SQS delivers them up to the queue's maxReceiveCount (5)
    for receive in range(1, 6):
        answer, event = send("not json {", detail, receive_count=receive)
        # THEN every receive reports both records (so SQS moves them to the DLQ after the 5th)
        assert failures(answer) == [r["messageId"] for r in event["Records"]]
        status = shop.item(detail.channel_message_id)["delivery_status"]  # type: ignore[index]
        assert status == ("failed" if receive == 5 else "sending")
    # AND the message shows why
    stored = shop.item(detail.channel_message_id)
    assert stored["delivery_error"].startswith("channel_error: ")  # type: ignore[index]
    assert stored["send_attempts"] == 5  # type: ignore[index]


def test_disconnected_channel_fails_without_a_call(sender_env, repo, fake):
    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hello", NOW)
    repo.put_connection(
        repo.get_connection(shop.channel, shop.account_id).model_copy(
            update={"status": "disconnected"}
        )
    )
    answer, _ = send(detail)
    assert failures(answer) == []
    assert fake.log == []
    assert shop.item(detail.channel_message_id)["delivery_error"].startswith(  # type: ignore[index]
        "channel_disconnected"
    )


# ---------------------------------------------------------------------------- API-level rules
def api_reply(shop: Shop, text: str) -> tuple[int, dict[str, Any]]:
    from functions.ticket_api.app import lambda_handler as api

    event = demo.api_event(
        "POST",
        "/tickets/{ticket_id}/messages",
        f"/tickets/{shop.ticket_id}/messages",
        body=json.dumps({"text": text, "client_message_id": unique("ui-")}).encode(),
        headers={"Content-Type": "application/json"},
        path_parameters={"ticket_id": shop.ticket_id},
        claims={"sub": "agent-1", "custom:workspace_id": shop.workspace_id},
    )
    response = api(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("channel", "silent_for", "text", "code"),
    [
        ("messenger", timedelta(days=7, hours=1), "hello", "messaging_window_closed"),
        ("whatsapp", timedelta(hours=25), "hello", "messaging_window_closed"),
        ("instagram", timedelta(minutes=1), "x" * 1001, "text_too_long"),
        ("messenger", timedelta(minutes=1), "x" * 2001, "text_too_long"),
    ],
)
def test_reply_api_refuses_what_the_channel_would(
    sender_env, repo, channel, silent_for, text, code
):
    # GIVEN a ticket whose customer last wrote ``silent_for`` ago
    shop = Shop(repo, channel)
    shop.customer_writes(datetime.now(UTC) - silent_for)
    # WHEN an agent replies through the API
    status, body = api_reply(shop, text)
    # THEN 422 with the stable error shape naming the rule, and nothing is stored or queued
    assert status == 422
    assert body["error"]["code"] == code
    assert body["error"]["details"]["channel"] == channel
    assert [m for m in shop.listed() if m.direction.value == "outbound"] == []
    assert repo.list_outbox(shop.workspace_id, 10, None).items == []


def test_reply_api_accepts_messenger_past_24h_and_queues_the_window_start(sender_env, repo):
    # GIVEN a Messenger customer silent for 2 days (HUMAN_AGENT territory)
    shop = Shop(repo, "messenger")
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    shop.customer_writes(last)
    # WHEN an agent replies
    status, _ = api_reply(shop, "Following up")
    # THEN it is accepted and the outbox event carries the customer's last message time
    assert status == 201
    (outbox,) = repo.list_outbox(shop.workspace_id, 10, None).items
    assert outbox.detail.last_inbound_at == last


# ---------------------------------------------------------------------------- cost
def test_cost_of_one_delivery(sender_env, repo, fake):
    """Pinned on DynamoDB Local (bench.meter): a send reads the connection, claims the message and
    re-keys it; a permanent failure reads the connection, claims and fails it."""
    from bench.meter import CapacityMeter
    from ticketing.repository.dynamodb import dynamodb_client

    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=1))
    warm, sent, failed = (shop.reply(text, NOW) for text in ("warm", "Hello", "Again"))
    path = f"/graph/{shop.account_id}/messages"
    for message_id in ("m_warm", "m_cost"):
        fake.expect_ordered_request(path).respond_with_json(
            {"recipient_id": shop.customer_id, "message_id": message_id}
        )
    fake.expect_ordered_request(path).respond_with_json(graph_error(190, "expired"), status=400)
    send(warm)  # a warm container: the first call builds the clients
    with CapacityMeter(dynamodb_client()) as meter:
        send(sent)
    sent_cost = [(r.operation, r.items, r.read_units, r.write_units) for r in meter.requests]
    with CapacityMeter(dynamodb_client()) as meter:
        send(failed)
    failed_cost = [(r.operation, r.items, r.read_units, r.write_units) for r in meter.requests]
    # the connection (eventually consistent), the claim (table + gsi1 entry), the re-key (two
    # items; DynamoDB Local prices a transaction's items as plain writes: AWS charges 2x)
    assert sent_cost == [
        ("GetItem", 1, 0.5, 0.0),
        ("UpdateItem", 1, 0.0, 2.0),
        ("TransactWriteItems", 2, 0.0, 4.0),
    ]
    assert failed_cost == [
        ("GetItem", 1, 0.5, 0.0),
        ("UpdateItem", 1, 0.0, 2.0),
        ("UpdateItem", 1, 0.0, 2.0),
    ]
    assert shop.item("m_cost")["delivery_status"] == "sent"  # type: ignore[index]


# ---------------------------------------------------------------------------- concurrency
def test_concurrent_deliveries_of_one_event_send_once(sender_env, repo, fake):
    """SQS may hand the same event to two workers at once: the claim lets exactly one call the
    channel (services called from threads: the batch processor is per process)."""
    from concurrent.futures import ThreadPoolExecutor

    from ticketing.services.delivery import RetryLaterError, deliver

    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Once only", NOW)

    def slowish(request: Request) -> Response:
        time.sleep(0.2)
        return Response(json.dumps({"recipient_id": "p", "message_id": "m_once"}), 200)

    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_handler(slowish)
    store = DeliveryRepository(repo)

    def attempt(n: int) -> str:
        try:
            return deliver(
                repo, store, detail, now=datetime.now(UTC), attempt_id=f"worker-{n}"
            ).outcome
        except RetryLaterError:
            return "retry_later"

    # WHEN eight workers deliver the same event at the same time
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    # THEN one sent it, the others backed off or found it done; the channel got one request
    assert outcomes.count("sent") == 1
    assert set(outcomes) <= {"sent", "retry_later", "duplicate"}
    assert len(fake.log) == 1
    outbound = [m for m in shop.listed() if m.direction.value == "outbound"]
    assert [(m.channel_message_id, m.delivery_status) for m in outbound] == [
        ("m_once", DeliveryStatus.SENT)
    ]


def test_line_reply_token_of_the_last_message_is_used_while_fresh(sender_env, repo, fake):
    # GIVEN a LINE customer message carrying a reply token, 3 seconds ago
    shop = Shop(repo, "line")
    now = datetime.now(UTC)
    shop.customer_writes(now - timedelta(seconds=3), reply_token="rt-fresh-001")
    # WHEN an agent replies now, and again two minutes later
    fresh = shop.reply("Right away", now)
    late = shop.reply("Anything else?", now + timedelta(minutes=2))
    # THEN only the fresh reply carries the token, and the token is never in an API answer
    assert (fresh.reply_token, late.reply_token) == ("rt-fresh-001", None)
    assert all("reply_token" not in m.model_dump() for m in shop.listed())
    # AND the sender answers with LINE's reply API
    fake.expect_request("/line/v2/bot/message/reply").respond_with_json(
        {"sentMessages": [{"id": "461230966842064999", "quoteToken": "q"}]}
    )
    answer, _ = send(fresh)
    assert failures(answer) == []
    assert fake.log[0][0].get_json() == {
        "replyToken": "rt-fresh-001",
        "messages": [{"type": "text", "text": "Right away"}],
    }
    assert shop.item("461230966842064999")["delivery_status"] == "sent"  # type: ignore[index]


def test_send_whose_echo_was_stored_as_a_foreign_message_is_listed_once(sender_env, repo, fake):
    # GIVEN an echo of our send already stored under the channel id (META_APP_ID misconfigured,
    # no metadata: stored as a shop message), before the sender recorded its outcome
    shop = Shop(repo, "instagram")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hello", NOW)
    from ticketing.models.commands import OutboundMessageSeen

    stored = ingest.record_outbound_message(
        repo,
        shop.workspace_id,
        OutboundMessageSeen(
            channel=shop.channel,
            account_id=shop.account_id,
            customer_id=shop.customer_id,
            channel_message_id="ig_mid_1",
            sent_at=NOW,
            text="Hello",
            app_id="999",
        ),
        NOW,
        own_app_id="1517776481860111",
    )
    assert stored.outcome == "outbound_stored"
    fake.expect_request(f"/graph/{shop.account_id}/messages").respond_with_json(
        {"recipient_id": shop.customer_id, "message_id": "ig_mid_1"}
    )
    # WHEN the sender records its send under the same channel id
    answer, _ = send(detail)
    # THEN the placeholder is retired and the ticket lists the message once
    assert failures(answer) == []
    assert shop.item(detail.channel_message_id)["moved_to"] == "ig_mid_1"  # type: ignore[index]
    outbound = [m for m in shop.listed() if m.direction.value == "outbound"]
    assert [m.channel_message_id for m in outbound] == ["ig_mid_1"]


def test_no_send_is_started_without_time_to_finish_it(sender_env, repo, fake):
    # GIVEN an invocation with 1 s left (the client may need 3 x 0.5 s + 5 s)
    from functions.outbox_sender.app import lambda_handler

    shop = Shop(repo, "messenger")
    shop.customer_writes(NOW - timedelta(minutes=1))
    detail = shop.reply("Hello", NOW)

    class Hurried(FakeLambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 1_000

    event = sqs_event([detail.model_dump(mode="json")])
    # WHEN the record is handled
    answer = lambda_handler(event, Hurried())
    # THEN it goes back to the queue untouched: no call, no claim
    assert failures(answer) == [event["Records"][0]["messageId"]]
    assert fake.log == []
    stored = shop.item(detail.channel_message_id)
    assert stored["delivery_status"] == "sending"  # type: ignore[index]
    assert "send_attempt_id" not in stored  # type: ignore[operator]
