"""Outbound delivery, the pure parts: channel rules, signatures, error classification, the outbox
detail's wire form (issue 8)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketing.channels.api_client import ApiResponse, parse_retry_after
from ticketing.channels.lazada_api import lazada_result, lazada_sign
from ticketing.channels.line_send import line_error, retry_key
from ticketing.channels.messenger_send import message_id_from_metadata, meta_error
from ticketing.channels.send_base import parse_credentials
from ticketing.channels.shopee_api import shopee_result, shopee_sign
from ticketing.errors import (
    ChannelApiRejectedError,
    ConfigurationError,
    MessagingWindowClosedError,
    TextTooLongError,
)
from ticketing.models.records import Channel
from ticketing.models.replies import OutboundMessageRequested
from ticketing.outbound_rules import LINE_REPLY_TOKEN_TTL, plan_send

NOW = datetime(2025, 11, 25, 16, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------- rules
@pytest.mark.parametrize(
    ("channel", "limit"),
    [(Channel.MESSENGER, 2000), (Channel.INSTAGRAM, 1000), (Channel.WHATSAPP, 4096)],
)
def test_text_limits(channel, limit):
    # GIVEN texts at and past the channel's limit
    # WHEN planned
    plan_send(channel, "x" * limit, now=NOW, last_inbound_at=NOW)
    # THEN one more character is refused, naming the rule and the limit
    with pytest.raises(TextTooLongError) as caught:
        plan_send(channel, "x" * (limit + 1), now=NOW, last_inbound_at=NOW)
    assert caught.value.code == "text_too_long"
    assert caught.value.status_code == 422
    assert caught.value.details["limit"] == limit


@pytest.mark.parametrize("channel", [Channel.MESSENGER, Channel.INSTAGRAM])
def test_meta_window(channel):
    # GIVEN the customer's last message 23 h, 25 h and 7 days + 1 min ago
    plan = plan_send(channel, "hi", now=NOW, last_inbound_at=NOW - timedelta(hours=23))
    tagged = plan_send(channel, "hi", now=NOW, last_inbound_at=NOW - timedelta(hours=25))
    # THEN a standard send, then the HUMAN_AGENT tag, then nothing
    assert not plan.use_human_agent_tag
    assert tagged.use_human_agent_tag
    with pytest.raises(MessagingWindowClosedError) as caught:
        plan_send(channel, "hi", now=NOW, last_inbound_at=NOW - timedelta(days=7, minutes=1))
    assert caught.value.code == "messaging_window_closed"


def test_whatsapp_window_and_private_replies():
    # GIVEN a WhatsApp customer silent for 24 h + 1 s
    with pytest.raises(MessagingWindowClosedError):
        plan_send(
            Channel.WHATSAPP, "hi", now=NOW, last_inbound_at=NOW - timedelta(hours=24, seconds=1)
        )
    # THEN a private reply to a comment is not bound by the DM window
    plan = plan_send(
        Channel.MESSENGER, "hi", now=NOW, last_inbound_at=NOW - timedelta(days=30), comment_id="c1"
    )
    assert not plan.use_human_agent_tag
    # AND an unknown last-message time is left to the channel to judge
    assert not plan_send(Channel.WHATSAPP, "hi", now=NOW, last_inbound_at=None).use_reply_token


def test_line_reply_token_only_while_fresh():
    fresh = plan_send(
        Channel.LINE, "hi", now=NOW, last_inbound_at=NOW - timedelta(seconds=5), reply_token="t"
    )
    stale = plan_send(
        Channel.LINE, "hi", now=NOW, last_inbound_at=NOW - LINE_REPLY_TOKEN_TTL * 2, reply_token="t"
    )
    none = plan_send(Channel.LINE, "hi", now=NOW, last_inbound_at=NOW, reply_token=None)
    assert (fresh.use_reply_token, stale.use_reply_token, none.use_reply_token) == (
        True,
        False,
        False,
    )


@given(st.text(max_size=3000), st.integers(min_value=0, max_value=10 * 24 * 3600))
def test_any_text_and_age_either_plans_or_names_a_rule(text, age_seconds):
    # GIVEN any text and any age of the customer's last message, on Messenger
    refused = len(text) > 2000 or age_seconds > 7 * 24 * 3600
    last = NOW - timedelta(seconds=age_seconds)
    if refused:
        # THEN a refusal is one of the rules, for the right reason
        with pytest.raises((TextTooLongError, MessagingWindowClosedError)):
            plan_send(Channel.MESSENGER, text, now=NOW, last_inbound_at=last)
        return
    plan = plan_send(Channel.MESSENGER, text, now=NOW, last_inbound_at=last)
    assert plan.use_human_agent_tag == (age_seconds > 24 * 3600)


# ---------------------------------------------------------------------------- signatures
def test_shopee_signature_is_hmac_over_the_documented_base_string():
    # GIVEN Shopee's shop-level base string: partner_id + path + timestamp + token + shop_id
    base = b"2001234/api/v2/sellerchat/send_message1764086400sp-at880000001"
    expected = hmac.new(b"partner-key", base, hashlib.sha256).hexdigest()
    # WHEN signed
    sign = shopee_sign(
        "partner-key",
        partner_id=2001234,
        path="/api/v2/sellerchat/send_message",
        timestamp=1764086400,
        access_token="sp-at",
        shop_id=880000001,
    )
    # THEN it is the lowercase hex HMAC-SHA256
    assert sign == expected
    assert sign == sign.lower()


def test_lazada_signature_sorts_parameters_after_the_path():
    params = {
        "txt": "hi",
        "app_key": "100001",
        "timestamp": "1764086400000",
        "sign_method": "sha256",
    }
    signed = b"/im/message/sendapp_key100001sign_methodsha256timestamp1764086400000txthi"
    assert lazada_sign("secret", "/im/message/send", {**params, "sign": "ignored"}) == (
        hmac.new(b"secret", signed, hashlib.sha256).hexdigest().upper()
    )


def test_line_retry_key_is_a_stable_uuid_per_message():
    assert retry_key("m_1") == retry_key("m_1")
    assert retry_key("m_1") != retry_key("m_2")
    assert len(retry_key("m_1")) == 36


# ---------------------------------------------------------------------------- error answers
def answer(status: int, body: object, **headers: str) -> ApiResponse:
    return ApiResponse(status=status, body=body, headers={k.lower(): v for k, v in headers.items()})


@pytest.mark.parametrize(
    ("status", "error", "reason", "retryable"),
    [
        (400, {"code": 190, "error_subcode": 463}, "token_expired", False),
        (400, {"code": 10, "error_subcode": 2018278}, "outside_window", False),
        (400, {"code": 131047}, "outside_window", False),
        (429, {"code": 613}, "rate_limited", True),
        (400, {"code": 130429}, "rate_limited", True),
        (400, {"code": 551}, "invalid_recipient", False),
        (500, {"code": 2}, "channel_error", True),
        (400, {"code": 100}, "invalid_request", False),
    ],
)
def test_graph_errors_map_to_stable_reasons(status, error, reason, retryable):
    exc = meta_error("messenger", answer(status, {"error": {"message": "x", **error}}))
    assert (exc.reason, exc.retryable) == (reason, retryable)


def test_retry_after_is_read_from_the_answer():
    exc = meta_error("messenger", answer(429, {"error": {"code": 613}}, **{"Retry-After": "42"}))
    assert exc.retry_after == 42.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


def test_line_and_platform_errors():
    assert (
        line_error(answer(400, {"message": "Invalid reply token"})).reason == "invalid_reply_token"
    )
    assert line_error(answer(401, {"message": "Authentication failed"})).reason == "token_expired"
    assert line_error(answer(429, {"message": "rate"})).retryable
    with pytest.raises(ChannelApiRejectedError) as shopee:
        shopee_result(answer(200, {"error": "error_auth", "message": "Invalid access_token."}))
    assert shopee.value.reason == "token_expired"
    assert shopee_result(answer(200, {"error": "", "response": {"message_id": "1"}})) == {
        "message_id": "1"
    }
    with pytest.raises(ChannelApiRejectedError) as lazada:
        lazada_result(answer(200, {"code": "ApiCallLimit", "type": "ISP", "message": "limit"}))
    assert (lazada.value.reason, lazada.value.retryable) == ("rate_limited", True)


def test_credentials_must_be_a_json_object_with_the_channel_keys():
    with pytest.raises(ConfigurationError):
        parse_credentials("plain-signing-secret", ("access_token",), Channel.WHATSAPP)
    with pytest.raises(ConfigurationError) as missing:
        parse_credentials('{"token": "x"}', ("access_token",), Channel.WHATSAPP)
    assert "x" not in missing.value.message  # never echo a secret
    assert parse_credentials('{"access_token": "t"}', ("access_token",), Channel.WHATSAPP)


# ---------------------------------------------------------------------------- wire form
def test_outbox_detail_optional_fields_travel_as_empty_strings():
    # GIVEN a detail without the optional fields
    detail = OutboundMessageRequested(
        idempotency_key="m_1",
        workspace_id="ws",
        ticket_id="t_1",
        message_id="m_1",
        conversation_id="cv",
        contact_id="ct",
        channel=Channel.MESSENGER,
        account_id="p1",
        customer_id="psid",
        channel_message_id="out:m_1",
        sender_id="agent",
        text="hi",
        requested_at=NOW,
    )
    # WHEN stored (None excluded, as the repository does) and read back as the pipe hands it on
    wire = detail.model_dump(mode="json", exclude_none=True)
    # THEN every optional field is a string (the pipe's template reads .S) and reads back None
    assert (wire["comment_id"], wire["last_inbound_at"], wire["reply_token"]) == ("", "", "")
    assert OutboundMessageRequested.model_validate(wire) == detail
    assert message_id_from_metadata("te:m_1") == "m_1"
    assert message_id_from_metadata("ticket:T-42") is None
